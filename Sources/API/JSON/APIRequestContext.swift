public import Hummingbird

/// The request context of the REST API: Hummingbird's basic one, with ``APIJSONEncoder`` as
/// the encoder of what routes return.
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    public var responseEncoder: APIJSONEncoder { APIJSONEncoder() }
}
