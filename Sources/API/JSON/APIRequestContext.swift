public import Hummingbird

/// The request context of the REST API: Hummingbird's basic one, with ``APIJSONEncoder`` as
/// the encoder of what routes return, and the caller authentication found.
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    /// Who made the request, set by authentication before any route runs; `nil` on the
    /// public routes (`/health`, `/ready`, ...) and when authentication is disabled.
    public var principal: APIPrincipal?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.principal = nil
    }

    public var responseEncoder: APIJSONEncoder { APIJSONEncoder() }

    /// The company the caller is limited to; `nil`: every company (or no authentication).
    public var company: Int64? { principal?.companyID }
}
