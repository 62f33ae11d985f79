import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `--verify URL`: reads the meter history back through the REST API and checks, per charger,
/// that every sampled value the server acknowledged is stored. The server may also hold
/// values it received but had not yet acknowledged when the run stopped, so a charger passes
/// when acknowledged <= stored <= sent.
struct Verifier {
    struct Expectation: Sendable {
        var chargePointID: String
        var acknowledged: Int
        var sent: Int
    }

    struct Outcome: Sendable {
        var chargersChecked = 0
        var acknowledged = 0
        var stored = 0
        /// Charge point id, acknowledged, stored, sent; or the error.
        var failures: [String] = []
        var passed: Bool { failures.isEmpty }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let baseURL: String
    /// Samples timestamped before this were not sent by this run.
    let since: Date

    /// Checks every charger, a few requests at a time.
    func verify(_ expectations: [Expectation]) async -> Outcome {
        // Child results are plain values (index, count, error text).
        var results = await withTaskGroup(of: Checked.self) { group in
            var results: [Checked] = []
            var next = 0
            var running = 0
            while running > 0 || next < expectations.count {
                while running < 8, next < expectations.count {
                    let index = next
                    let chargePointID = expectations[index].chargePointID
                    next += 1
                    running += 1
                    group.addTask {
                        do {
                            return Checked(index: index, stored: try await storedCount(chargePointID), error: nil)
                        } catch {
                            return Checked(index: index, stored: 0, error: "\(error)")
                        }
                    }
                }
                guard let checked = await group.next() else { break }
                running -= 1
                results.append(checked)
            }
            return results
        }
        results.sort { $0.index < $1.index }
        var outcome = Outcome()
        for checked in results {
            let expectation = expectations[checked.index]
            outcome.chargersChecked += 1
            outcome.acknowledged += expectation.acknowledged
            if let error = checked.error {
                outcome.failures.append("\(expectation.chargePointID): \(error)")
                continue
            }
            outcome.stored += checked.stored
            if checked.stored < expectation.acknowledged || checked.stored > expectation.sent {
                outcome.failures.append(
                    "\(expectation.chargePointID): acknowledged \(expectation.acknowledged), "
                        + "stored \(checked.stored), sent \(expectation.sent)"
                )
            }
        }
        return outcome
    }

    private struct Checked: Sendable {
        var index: Int
        var stored: Int
        var error: String?
    }

    /// The number of samples stored for the charger since the run began: the charger's id
    /// from `/db/chargers/?charge_point_id=`, then a count aggregate of its meter history.
    func storedCount(_ chargePointID: String) async throws -> Int {
        let encodedID = chargePointID.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? chargePointID
        let list = try await getJSON("/db/chargers/?charge_point_id=\(encodedID)")
        guard let items = list["items"] as? [[String: Any]], let charger = items.first, let id = charger["id"] as? Int
        else {
            throw Failure(description: "the server has no charger \(chargePointID)")
        }
        let from = Self.iso8601(since).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let history = try await getJSON("/db/chargers/\(id)/meter-values?from=\(from)&bucket=1d&agg=count")
        guard let buckets = history["items"] as? [[String: Any]] else {
            throw Failure(description: "meter history of \(chargePointID) has no items")
        }
        return buckets.reduce(0) { $0 + ($1["count"] as? Int ?? 0) }
    }

    private func getJSON(_ path: String) async throws -> [String: Any] {
        let (status, data) = try await Self.get(baseURL, path)
        guard status == 200 else {
            throw Failure(
                description: "GET \(path): HTTP \(status) \(String(decoding: data.prefix(300), as: UTF8.self))"
            )
        }
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Failure(description: "GET \(path): not a JSON object")
        }
        return object
    }

    /// A plain HTTP/1.1 GET with `Connection: close`, on a thread of its own (the answers
    /// are small and the checks few; the REST API is on loopback).
    static func get(_ baseURL: String, _ path: String) async throws -> (status: Int, body: Data) {
        guard let url = URL(string: baseURL), url.scheme == "http", let host = url.host else {
            throw Failure(description: "--verify needs an http:// URL, got \(baseURL)")
        }
        let port = UInt16(url.port ?? 80)
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try blockingGet(host: host, port: port, path: path) })
            }
        }
    }

    private static func blockingGet(host: String, port: UInt16, path: String) throws -> (status: Int, body: Data) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var addresses: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &addresses) == 0, let address = addresses else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(addresses) }
        let socket = Glibc.socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
        guard socket >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(socket) }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(socket, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else {
            throw Failure(description: "cannot connect to \(host):\(port)")
        }
        let request = Array(
            "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\nAccept: application/json\r\n\r\n".utf8
        )
        var written = 0
        while written < request.count {
            let count = request[written...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw Failure(description: "sending to \(host):\(port) failed") }
            written += count
        }
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            response.append(contentsOf: buffer[0..<count])
        }
        guard let split = response.firstRange(of: Data("\r\n\r\n".utf8)) else {
            throw Failure(description: "GET \(path): no HTTP response")
        }
        let head = String(decoding: response[..<split.lowerBound], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        guard !head.lowercased().contains("transfer-encoding: chunked") else {
            throw Failure(description: "GET \(path): chunked answers are not supported by this checker")
        }
        return (status, Data(response[split.upperBound...]))
    }

    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
