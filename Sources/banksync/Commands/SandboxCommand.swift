import ArgumentParser
import Foundation
import Sandbox

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run the built-in sandbox peers (Flowpay partner API) on 127.0.0.1 for demos and tests.")

    @Option(help: "Port of the Flowpay sandbox (0 picks a free one).")
    var flowpayPort = 8081

    @Option(help: "Lifetime of issued access tokens, in seconds.")
    var tokenLifetime = 86_400

    func run() async throws {
        let environment = Environment()
        let clientID = environment.value("FLOWPAY_CLIENT_ID") ?? "sandbox-client"
        let secret = try environment.secret("FLOWPAY_CLIENT_SECRET") ?? "sandbox-secret"
        let state = FlowpaySandboxState(clientID: clientID, clientSecret: secret, tokenLifetime: tokenLifetime)
        let (port, server) = try await startServer(router: FlowpaySandbox.router(state: state), port: flowpayPort, name: "flowpay")
        FileHandle.standardOutput.write(Data(
            "flowpay sandbox: FLOWPAY_API_URL=http://127.0.0.1:\(port) FLOWPAY_TOKEN_URL=http://127.0.0.1:\(port)/oauth/token\n".utf8))
        try await withTaskCancellationHandler {
            try await waitForTermination()
        } onCancel: {
            server.cancel()
        }
        server.cancel()
    }
}

/// Returns when SIGTERM or SIGINT arrives.
func waitForTermination() async throws {
    let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
    let sources = [SIGTERM, SIGINT].map { signalNumber in
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber)
        source.setEventHandler { continuation.yield(signalNumber) }
        source.resume()
        return source
    }
    for await _ in stream { break }
    sources.forEach { $0.cancel() }
}
