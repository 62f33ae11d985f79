import HTTPTypes
import Hummingbird
import TimeSeries

/// A stream's event ids: `CURSOR@EPOCH-NEXT`, read back from `Last-Event-ID`.
extension LiveStreams {
    /// Where a client resumes: what an event id of this stream (or a history cursor) says.
    struct Position: Equatable, Sendable {
        var cursor: EventCursor?
        var epoch: UInt64?
        var next: UInt64?

        /// `CURSOR@EPOCH-NEXT`, `@EPOCH-NEXT` or `CURSOR` (a history cursor).
        init?(_ text: String) {
            guard text.utf8.count <= 128 else { return nil }
            let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
            if !parts[0].isEmpty {
                guard let cursor = MeterHistory.cursor(String(parts[0])) else { return nil }
                self.cursor = cursor
            }
            if parts.count == 2 {
                let place = parts[1].split(separator: "-", omittingEmptySubsequences: false)
                guard place.count == 2, (1...16).contains(place[0].count), place[0].allSatisfy(\.isHexDigit),
                    let epoch = UInt64(place[0], radix: 16),
                    (1...20).contains(place[1].count), place[1].allSatisfy({ $0 >= "0" && $0 <= "9" }),
                    let next = UInt64(place[1])
                else { return nil }
                self.epoch = epoch
                self.next = next
            } else if cursor == nil {
                return nil
            }
        }

        init(cursor: EventCursor?, epoch: UInt64?, next: UInt64?) {
            self.cursor = cursor
            self.epoch = epoch
            self.next = next
        }

        var text: String {
            let place = epoch.map { epoch in "@" + String(epoch, radix: 16) + "-" + String(next ?? 0) } ?? ""
            return (cursor?.description ?? "") + place
        }
    }

    static func lastEventID(_ request: Request) throws -> Position? {
        guard let text = request.headers[HTTPField.Name("Last-Event-ID")!] else { return nil }
        guard let position = Position(text) else {
            throw APIError.invalid(
                location: ["header", "Last-Event-ID"],
                message: "not an event id of this stream nor a history cursor",
                type: "value_error"
            )
        }
        return position
    }
}
