import AsyncHTTPClient
import NIOCore

/// The HTTP clients connectors talk to aggregators and banks with. They never follow a redirect: a bank's
/// answer (or a `_links` it hands out) must not take a request — its access token, its consent id, our client
/// certificate — to another host. A 3xx comes back to the connector, which reports it (`SourceHTTP`).
public enum SourceHTTPClient {
    /// Timeouts as given, redirects refused; `connectionsPerHost` when one host serves many customers at once.
    public static func configuration(connectTimeout: Int64 = 10, readTimeout: Int64 = 60, connectionsPerHost: Int? = nil)
        -> HTTPClient.Configuration {
        var settings = HTTPClient.Configuration()
        settings.redirectConfiguration = .disallow
        settings.timeout = .init(connect: .seconds(connectTimeout), read: .seconds(readTimeout))
        if let connectionsPerHost {
            settings.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost)
        }
        return settings
    }
}

extension GoCardlessConfiguration {
    /// An HTTP client for GoCardless (shut it down when done). One aggregator serves every customer: its
    /// connections (8 by default) would cap a run at 8 calls in flight whatever `--concurrency` says, hence 64.
    public func makeHTTPClient(connectionsPerHost: Int = 64) -> HTTPClient {
        HTTPClient(eventLoopGroupProvider: .singleton,
                   configuration: SourceHTTPClient.configuration(readTimeout: 90, connectionsPerHost: connectionsPerHost))
    }
}
