import Hummingbird
import NIOCore

/// `serve`'s request context: Hummingbird's core context plus the socket peer's address, from which the
/// per-address rate limit (applied before any key is looked up) finds the client (`ClientAddress`).
public struct PullAPIContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
