import ArrayQueuesTestSupport
import Foundation
import Testing

/// A C program built with a copy of version 1 of the queue and transport options structs: the library
/// accepts their size and defaults the fields version 2 added, never writes past them, and
/// the new `shm_mode`, `shm_allow_other_owner` and `broadcast` fields work (the other-owner part as root);
/// `maximum_connections` (version 4 of the sender's struct, 3 of the receiver's) is never read from
/// an older struct and applies from a whole one.
@Suite
struct OptionsVersionTests {
    @Test("options structs of version 1 still work; shm_mode and shm_allow_other_owner of version 2 apply; maximum_connections only from the version that has it")
    func optionsVersions() throws {
        try CToolchain.runCheckedProgram("Tests/ArrayQueuesCTests/c/options_versions_test.c", timeout: 60)
    }
}
