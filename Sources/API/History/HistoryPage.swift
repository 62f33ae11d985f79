import Hummingbird
import TimeSeries

/// The kind of item a page of a charger's history holds.
protocol HistoryItem: Encodable, Sendable {
    /// The page's items for `rows` (rows of another kind are left out).
    static func items(_ rows: [EventRow]) -> [Self]
}

/// A page of a charger's status history or events: `{"items": [...], "next_cursor": ...}`,
/// and in a cluster `"incomplete_nodes": [...]`.
struct HistoryPage<Item: HistoryItem>: ResponseEncodable, Sendable {
    var items: [Item]
    var nextCursor: String?
    /// In a cluster, the nodes missing from the page (on a server alone the field is left out).
    var incompleteNodes: [String]?

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
        case incompleteNodes = "incomplete_nodes"
    }

    init(_ page: EventPage) {
        items = Item.items(page.rows)
        nextCursor = page.nextCursor?.description
    }

    init(_ page: ClusterHistory.Page) {
        items = Item.items(page.rows)
        nextCursor = page.nextCursor?.description
        incompleteNodes = page.incompleteNodes
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)
        if let incompleteNodes { try container.encode(incompleteNodes, forKey: .incompleteNodes) }
    }
}
