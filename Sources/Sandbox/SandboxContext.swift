import Hummingbird
import ServiceLifecycle
import Logging
import NIOCore

/// Request context that keeps the connection's channel, so a fault can drop the connection for real.
public struct SandboxContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

extension Response {
    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func json<T: Encodable>(_ status: HTTPResponse.Status, encoding value: T, headers: HTTPFields = [:]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return json(status, Array((try? encoder.encode(value)) ?? Data("{}".utf8)), headers: headers)
    }
}

import Foundation

/// Starts a Hummingbird application on 127.0.0.1 (port 0 picks a free one) and returns the bound port
/// once it is accepting connections, with the task that runs it (cancel it to stop the server).
public func startServer(
    router: Router<SandboxContext>, host: String = "127.0.0.1", port: Int = 0, name: String
) async throws -> (port: Int, task: SandboxServer) {
    let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
    let logger = Logger(label: "banksync.sandbox.\(name)")
    let app = Application(
        router: router,
        configuration: .init(address: .hostname(host, port: port), serverName: name),
        onServerRunning: { channel in
            continuation.yield(channel.localAddress?.port ?? port)
            continuation.finish()
        },
        logger: logger
    )
    let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
    // A server that stops before it ever listened (its run threw) ends the stream too: the caller gets an error
    // instead of waiting for a port for ever.
    let server = SandboxServer(group: group, task: Task {
        defer { continuation.finish() }
        do {
            try await group.run()
        } catch {
            logger.error("sandbox server stopped", metadata: ["problem": "\(error)"])
            throw error
        }
    })
    for await bound in stream { return (bound, server) }
    server.cancel()
    throw SandboxServerError.didNotStart(name)
}

/// A running sandbox server. `cancel()` shuts it down gracefully (open connections are finished, not dropped:
/// cancelling the server task while a connection was still queued could trap inside NIO).
public struct SandboxServer: Sendable {
    let group: ServiceGroup
    let task: Task<Void, any Error>

    public func cancel() {
        let group = group
        Task { await group.triggerGracefulShutdown() }
    }
}

public enum SandboxServerError: Error, CustomStringConvertible {
    case didNotStart(String)

    public var description: String {
        switch self {
        case .didNotStart(let name): "the \(name) sandbox server stopped before it listened"
        }
    }
}
