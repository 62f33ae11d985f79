import Dispatch
public import Logging
import Synchronization

/// Text a charger sent, made safe for a log line: control characters become `\uXXXX`, so a
/// vendor name, an error description or a unique id cannot start a forged line, move the
/// cursor of a terminal or hide what follows it.
public enum LogText {
    /// `text` with C0 controls (line breaks included), DEL, C1 controls, the Unicode line and
    /// paragraph separators and the bidirectional overrides written as `\uXXXX`.
    public static func escaped(_ text: some StringProtocol) -> String {
        guard text.unicodeScalars.contains(where: needsEscaping) else { return String(text) }
        var result = ""
        result.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            if needsEscaping(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Whether `scalar` is written escaped.
    static func needsEscaping(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x2028, 0x2029: return true
        case 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }
}

extension Logger.MetadataValue {
    /// Charger-supplied text as a metadata value, escaped (``LogText/escaped(_:)``).
    static func charger(_ text: some StringProtocol) -> Logger.MetadataValue {
        .string(LogText.escaped(text))
    }
}

/// Keeps a misbehaving charger from flooding the log: a fault line of one kind from one
/// charger is written at most `limit` times per window; the lines past that are counted, and
/// one summary line, "Suppressed K similar lines", follows when the window is over (at the
/// next line of that kind, at the charger's next ping tick, or when it disconnects).
public final class FaultLogLimiter: Sendable {
    /// What a limited line is keyed by.
    struct Key: Hashable, Sendable {
        var source: String
        var kind: String
    }

    private struct Window {
        var start: UInt64
        var written = 0
        var suppressed = 0
        var level: Logger.Level
    }

    /// Lines written per key and window.
    public let limit: Int
    /// The window's length in nanoseconds.
    let windowNanoseconds: UInt64
    private let now: @Sendable () -> UInt64
    private let windows = Mutex<[Key: Window]>([:])
    /// Keys kept at most; past that, windows that are over are dropped with their counts.
    private static let maximumKeys = 10_000

    /// - Parameters:
    ///   - limit: Lines written per charger, kind and window.
    ///   - windowSeconds: The window's length.
    ///   - now: The clock, in nanoseconds (uptime; tests pass their own).
    public init(
        limit: Int = 10,
        windowSeconds: Int = 60,
        now: (@Sendable () -> UInt64)? = nil
    ) {
        self.limit = max(1, limit)
        self.windowNanoseconds = UInt64(max(1, windowSeconds)) * 1_000_000_000
        self.now = now ?? { DispatchTime.now().uptimeNanoseconds }
    }

    /// Writes a fault line unless `source` wrote `limit` lines of `kind` in this window.
    /// - Parameters:
    ///   - source: Who it is about: a charge point id, or the request path of a refused upgrade.
    ///   - kind: What kind of fault, e.g. `malformed`.
    public func log(
        _ logger: Logger,
        level: Logger.Level,
        source: String,
        kind: String,
        _ message: @autoclosure () -> Logger.Message,
        metadata: @autoclosure () -> Logger.Metadata = [:]
    ) {
        guard logger.logLevel <= level else { return }
        let key = Key(source: source, kind: kind)
        let time = now()
        let (write, summary) = windows.withLock { windows -> (Bool, Int) in
            if windows.count >= Self.maximumKeys {
                windows = windows.filter { time &- $0.value.start < windowNanoseconds }
            }
            var window = windows[key] ?? Window(start: time, level: level)
            var summary = 0
            if time &- window.start >= windowNanoseconds {
                summary = window.suppressed
                window = Window(start: time, level: level)
            }
            let write = window.written < limit
            if write { window.written += 1 } else { window.suppressed += 1 }
            windows[key] = window
            return (write, summary)
        }
        if summary > 0 { writeSummary(logger, key: key, count: summary, level: level) }
        if write { logger.log(level: level, message(), metadata: metadata()) }
    }

    /// Writes the summaries of `source`'s windows that are over (or all of them, when `all`)
    /// and forgets those windows.
    public func flush(_ logger: Logger, source: String, all: Bool = false) {
        let time = now()
        let summaries = windows.withLock { windows -> [(Key, Int, Logger.Level)] in
            var summaries: [(Key, Int, Logger.Level)] = []
            for (key, window) in windows where key.source == source {
                guard all || time &- window.start >= windowNanoseconds else { continue }
                windows[key] = nil
                if window.suppressed > 0 { summaries.append((key, window.suppressed, window.level)) }
            }
            return summaries
        }
        for (key, count, level) in summaries.sorted(by: { $0.0.kind < $1.0.kind }) {
            writeSummary(logger, key: key, count: count, level: level)
        }
    }

    private func writeSummary(_ logger: Logger, key: Key, count: Int, level: Logger.Level) {
        logger.log(
            level: level,
            "Suppressed \(count) similar lines",
            metadata: [
                "source": .charger(key.source), "kind": "\(key.kind)",
                "window_seconds": "\(windowNanoseconds / 1_000_000_000)", "limit": "\(limit)",
            ]
        )
    }
}
