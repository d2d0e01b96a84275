import Hummingbird
import NIOCore
import Store

/// Who a console request comes from, as the guard established it.
public struct ConsoleIdentity: Sendable, Equatable {
    public enum Via: String, Sendable { case proxy, session }
    public var who: String
    public var role: ConsoleRole
    public var via: Via
    /// The token every POST form of this identity carries.
    public var formToken: String
}

/// The console listener's request context: the socket peer (for the trusted-proxy check), the identity the guard
/// found, and a POST's form fields (the guard reads them to check the form token).
public struct ConsoleContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var identity: ConsoleIdentity?
    public var form: [String: String] = [:]

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
