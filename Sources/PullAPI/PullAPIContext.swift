import Hummingbird
import NIOCore

/// `serve`'s request context: Hummingbird's core context plus the client's address, which the per-address rate
/// limit (applied before any key is looked up) counts by.
public struct PullAPIContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The address a limit counts by: the IP (all ports of one client together); unknown ones share one bucket.
    var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }
}
