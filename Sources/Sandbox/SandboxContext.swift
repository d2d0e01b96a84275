import Hummingbird
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
) async throws -> (port: Int, task: Task<Void, any Error>) {
    let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router,
        configuration: .init(address: .hostname(host, port: port), serverName: name),
        onServerRunning: { channel in
            continuation.yield(channel.localAddress?.port ?? port)
            continuation.finish()
        },
        logger: Logger(label: "banksync.sandbox.\(name)")
    )
    let task = Task { try await app.run() }
    for await bound in stream { return (bound, task) }
    task.cancel()
    throw CancellationError()
}
