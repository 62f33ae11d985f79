import Logging
import Synchronization
import Testing

@testable import Ingest

/// Charger-supplied text cannot forge or garble log lines, and a charger repeating a fault
/// cannot flood the log.
@Suite("Charger text in logs")
struct ChargerLogTests {
    @Test("Control characters are written as \\uXXXX; other text is unchanged")
    func escaping() {
        #expect(LogText.escaped("ACME") == "ACME")
        #expect(LogText.escaped("Ünïcødé ⚡️ 充電") == "Ünïcødé ⚡️ 充電")
        #expect(LogText.escaped("a\nb") == "a\\u000Ab")
        #expect(LogText.escaped("a\r\nINFO forged line") == "a\\u000D\\u000AINFO forged line")
        #expect(LogText.escaped("\u{1B}[2J\u{07}") == "\\u001B[2J\\u0007")
        #expect(LogText.escaped("tab\there") == "tab\\u0009here")
        #expect(LogText.escaped("nul\u{0}") == "nul\\u0000")
        #expect(LogText.escaped("del\u{7F}") == "del\\u007F")
        #expect(LogText.escaped("c1\u{85}\u{9B}") == "c1\\u0085\\u009B")
        #expect(LogText.escaped("ls\u{2028}ps\u{2029}") == "ls\\u2028ps\\u2029")
        #expect(LogText.escaped("bidi\u{202E}cod.exe") == "bidi\\u202Ecod.exe")
        #expect(LogText.escaped("already \\u000A escaped") == "already \\u000A escaped")
    }

    /// Collects what is logged.
    final class Recorder: Sendable {
        let lines = Mutex<[(Logger.Level, String, Logger.Metadata)]>([])

        var logger: Logger {
            var logger = Logger(label: "test") { _ in Handler(recorder: self) }
            logger.logLevel = .info
            return logger
        }

        var messages: [String] { lines.withLock { $0.map(\.1) } }

        struct Handler: LogHandler {
            let recorder: Recorder
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace

            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }

            func log(event: LogEvent) {
                recorder.lines.withLock {
                    $0.append((event.level, "\(event.message)", metadata.merging(event.metadata ?? [:]) { $1 }))
                }
            }
        }
    }

    /// A clock the test moves by hand.
    final class ManualClock: Sendable {
        let nanoseconds = Atomic<UInt64>(1_000_000_000)
        func advance(seconds: UInt64) { nanoseconds.add(seconds * 1_000_000_000, ordering: .relaxed) }
        var now: @Sendable () -> UInt64 { { self.nanoseconds.load(ordering: .relaxed) } }
    }

    @Test("A charger's repeated fault lines are limited per kind and window, then summarized")
    func rateLimited() {
        let recorder = Recorder()
        let clock = ManualClock()
        let limiter = FaultLogLimiter(limit: 3, windowSeconds: 60, now: clock.now)
        let logger = recorder.logger
        for index in 0..<10 {
            limiter.log(
                logger,
                level: .warning,
                source: "CP-1",
                kind: "malformed",
                "Refused a malformed message #\(index)"
            )
        }
        // Another kind and another charger have windows of their own.
        limiter.log(logger, level: .warning, source: "CP-1", kind: "refused-request", "Refused a request")
        limiter.log(logger, level: .warning, source: "CP-2", kind: "malformed", "Refused a malformed message (CP-2)")
        #expect(
            recorder.messages == [
                "Refused a malformed message #0", "Refused a malformed message #1", "Refused a malformed message #2",
                "Refused a request", "Refused a malformed message (CP-2)",
            ]
        )
        clock.advance(seconds: 30)
        limiter.log(logger, level: .warning, source: "CP-1", kind: "malformed", "still within the window")
        #expect(recorder.messages.count == 5)

        // The window is over: the next line of the kind brings the summary first.
        clock.advance(seconds: 31)
        limiter.log(logger, level: .warning, source: "CP-1", kind: "malformed", "a new window")
        let messages = recorder.messages
        #expect(messages.suffix(2) == ["Suppressed 8 similar lines", "a new window"])
        let summary = recorder.lines.withLock { $0[$0.count - 2] }
        #expect(summary.0 == .warning)
        #expect(summary.2["kind"] == "malformed")
        #expect(summary.2["source"] == "CP-1")
    }

    @Test("The summary also comes at the ping tick after the window, and when the charger disconnects")
    func flushed() {
        let recorder = Recorder()
        let clock = ManualClock()
        let limiter = FaultLogLimiter(limit: 1, windowSeconds: 60, now: clock.now)
        let logger = recorder.logger
        for _ in 0..<4 { limiter.log(logger, level: .info, source: "CP-1", kind: "discarded-answer", "Discarded") }
        limiter.flush(logger, source: "CP-1")
        #expect(recorder.messages == ["Discarded"], "nothing before the window is over")
        clock.advance(seconds: 61)
        limiter.flush(logger, source: "CP-1")
        #expect(recorder.messages == ["Discarded", "Suppressed 3 similar lines"])
        limiter.flush(logger, source: "CP-1")
        #expect(recorder.messages.count == 2, "a summary is written once")

        for _ in 0..<3 { limiter.log(logger, level: .info, source: "CP-1", kind: "malformed", "Malformed") }
        limiter.flush(logger, source: "CP-2", all: true)
        #expect(recorder.messages.count == 3)
        limiter.flush(logger, source: "CP-1", all: true)
        #expect(recorder.messages.suffix(2) == ["Malformed", "Suppressed 2 similar lines"])
    }

    @Test("Lines below the logger's level are neither written nor counted")
    func belowLevel() {
        let recorder = Recorder()
        let limiter = FaultLogLimiter(limit: 1, windowSeconds: 60)
        var logger = recorder.logger
        logger.logLevel = .warning
        for _ in 0..<5 { limiter.log(logger, level: .info, source: "CP-1", kind: "malformed", "quiet") }
        limiter.flush(logger, source: "CP-1", all: true)
        #expect(recorder.messages.isEmpty)
    }
}
