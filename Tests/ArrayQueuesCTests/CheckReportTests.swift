import ArrayQueuesTestSupport
import CArrayQueuesC
import Foundation
import Testing

/// How `c/check.h`, which every C test program uses, reports a failed check: the thread's last
/// error as the check's own only when its call set it, since the C interface keeps the last
/// error until the next failing call and cannot clear it; one an earlier call left is labelled
/// as maybe that call's.
@Suite(.timeLimit(.minutes(2)))
struct CheckReportTests {
    @Test("a failed check names the last error as its own only when its call set it, and labels one an earlier call left")
    func failureLinesTellWhoseErrorTheyShow() throws {
        let run = try CToolchain.compileAndRun("Tests/ArrayQueuesCTests/c/check_report_test.c", timeout: 60)
        #expect(run.status == 1, "\(run.output)\n\(run.errors)")
        #expect(run.output.contains("check_report_test: 5 checks, 5 failures"), "\(run.output)")
        let lines = run.errors.split(separator: "\n").map(String.init)
        try #require(lines.count == 5 && lines.allSatisfy { $0.hasPrefix("FAIL ") }, "\(run.errors)")
        let own = "; last error ", earlier = "; last error (not set by this check, maybe from an earlier call) "
        #expect(lines[0].hasSuffix("nbytes == 1; no last error"), "\(lines[0])")
        #expect(lines[1].contains("\(own)\(AQ_EUNSUPPORTED_DTYPE): ") && !lines[1].contains("earlier"), "\(lines[1])")
        #expect(lines[2].contains("aq_dtype_itemsize") && lines[2].contains("\(earlier)\(AQ_EUNSUPPORTED_DTYPE): "), "\(lines[2])")
        #expect(lines[3].contains("nbytes == 1\(earlier)\(AQ_EUNSUPPORTED_DTYPE): "), "\(lines[3])")
        #expect(lines[4].contains("\(own)\(AQ_EINVALID_SHAPE): ") && !lines[4].contains("earlier"), "\(lines[4])")
    }
}
