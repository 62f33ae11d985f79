import Crypto
import Foundation
import Relational
import _CryptoExtras

/// Verifications per second of the server's authorization key hash (a salted HMAC-SHA256,
/// ``AuthorizationKeyHash``) against the slow password hashes OWASP recommends: PBKDF2-SHA256
/// at 600,000 iterations and scrypt at N = 2^17, r = 8, p = 1. It prints, for each, how long
/// a reconnect storm of 19,000 profile-1 chargers (one verification each) would spend
/// hashing on all of this machine's cores.
///
/// Usage: KeyHashBenchmark [seconds per scheme, 3 by default]
/// Run it built in release mode: `swift run -c release KeyHashBenchmark`.
@main
enum KeyHashBenchmark {
    static let stormChargers = 19_000

    static func main() throws {
        let seconds = CommandLine.arguments.dropFirst().first.flatMap(Double.init) ?? 3
        let key = AuthorizationKey.generate()
        let hash = AuthorizationKeyHash(key: key)
        let hexPassword = Array(key.hex.utf8)
        let salt = (0..<16).map { _ in UInt8.random(in: .min ... .max) }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        print("cores: \(cores); \(seconds) s per scheme, one thread")
        print("| Scheme | Verifications/s (one core) | µs each | 19,000-charger storm on \(cores) cores |")
        print("|---|---:|---:|---:|")

        var matched = true
        func report(_ name: String, _ body: () throws -> Void) rethrows {
            let rate = try measure(seconds: seconds, body)
            let storm = Double(stormChargers) / (rate * Double(cores))
            print(
                "| \(name) | \(format(rate)) | \(format(1_000_000 / rate)) | \(format(storm)) s |"
            )
        }
        report("HMAC-SHA256 (the server's), raw key password") { matched = hash.matches(key.bytes) && matched }
        report("HMAC-SHA256 (the server's), hex text password") { matched = hash.matches(hexPassword) && matched }
        try report("PBKDF2-SHA256, 600,000 iterations") {
            _ = try KDF.Insecure.PBKDF2.deriveKey(
                from: key.bytes,
                salt: salt,
                using: .sha256,
                outputByteCount: 32,
                rounds: 600_000
            )
        }
        try report("scrypt N=2^17 r=8 p=1 (128 MiB each)") {
            _ = try KDF.Scrypt.deriveKey(
                from: key.bytes,
                salt: salt,
                outputByteCount: 32,
                rounds: 1 << 17,
                blockSize: 8,
                parallelism: 1
            )
        }
        guard matched else {
            print("the key did not match its own hash")
            exit(1)
        }
    }

    /// Calls per second of `body` over about `seconds` (at least 3 calls).
    static func measure(seconds: Double, _ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        try body()  // warm up
        var calls = 0
        let start = clock.now
        var elapsed = Duration.zero
        repeat {
            try body()
            calls += 1
            elapsed = clock.now - start
        } while elapsed < .seconds(seconds) || calls < 3
        let components = elapsed.components
        return Double(calls) / (Double(components.seconds) + Double(components.attoseconds) / 1e18)
    }

    static func format(_ value: Double) -> String {
        if value >= 100 { return String(Int(value.rounded())) }
        return String(format: "%.2f", value)
    }
}
