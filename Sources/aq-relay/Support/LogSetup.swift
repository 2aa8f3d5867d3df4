import AQCommandLine
import ArrayRelay
import Logging

enum LogSetup {
    /// Sends every logger of the process to standard error at `level` (once per process; the
    /// library types log through the logger they are given).
    static func bootstrap(level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "aq-relay")
    }

    /// A logger for the in-process relay of `demo` and `bench`: warnings and worse only.
    static func quiet() -> Logger {
        var logger = Logger(label: "aq-relay") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        return logger
    }
}
