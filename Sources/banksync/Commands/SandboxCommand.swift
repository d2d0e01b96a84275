import ArgumentParser
import Foundation
import Sandbox

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run the built-in sandbox peers on 127.0.0.1: Flowpay's partner API, GoCardless Bank Account Data and a Berlin Group bank.",
        discussion: "Prints the environment settings that point banksync at them. Stops on SIGTERM or Ctrl-C. Example: banksync sandbox --env-file /tmp/sandbox.env")

    @Option(help: "Port of the Flowpay sandbox (0 picks a free one).")
    var flowpayPort = 0
    @Option(help: "Port of the GoCardless sandbox (0 picks a free one).")
    var gocardlessPort = 0
    @Option(help: "Port of the Berlin Group bank sandbox (0 picks a free one).")
    var berlingroupPort = 0
    @Option(help: "Lifetime of issued Flowpay access tokens, in seconds.")
    var tokenLifetime = 86_400
    @Option(help: "Write the printed settings to this file as well (KEY=value lines), for scripts.")
    var envFile: String?

    @Option(help: "Also serve GoCardless requisition sandbox-req-big: one account with this many bookings a day (memory benchmarks; 274 is about 200,000 in 730 days).")
    var bigAccountDailyTransactions: Int?

    func run() async throws {
        let environment = Environment()
        let today = try ClockSettings.load(environment).fixedToday
        let flowpayState = FlowpaySandboxState(clientID: environment.value("FLOWPAY_CLIENT_ID") ?? "sandbox-client",
                                               clientSecret: try environment.secret("FLOWPAY_CLIENT_SECRET") ?? "sandbox-secret",
                                               tokenLifetime: tokenLifetime, today: today)
        let goCardlessState = GoCardlessSandboxState(secretID: environment.value("GOCARDLESS_SECRET_ID") ?? "sandbox-secret-id",
                                                     secretKey: try environment.secret("GOCARDLESS_SECRET_KEY") ?? "sandbox-secret-key",
                                                     today: today)
        await goCardlessState.seedDemo()
        if let bigAccountDailyTransactions {
            await goCardlessState.makeLinkedRequisition(id: "sandbox-req-big", institution: "SANDBOXFINANCE_SFIN0000", accountCount: 1,
                                                        dailyTransactions: bigAccountDailyTransactions)
        }
        let berlinGroupState = BerlinGroupSandboxState(today: today)
        await berlinGroupState.seedDemo()
        let urls = PublicURLs()
        let (flowpayPortBound, flowpay) = try await startServer(router: FlowpaySandbox.router(state: flowpayState), port: flowpayPort, name: "flowpay")
        let (goCardlessPortBound, goCardless) = try await startServer(
            router: GoCardlessSandbox.router(state: goCardlessState, publicURL: { urls.goCardless }), port: gocardlessPort, name: "gocardless")
        let (berlinGroupPortBound, berlinGroup) = try await startServer(
            router: BerlinGroupSandbox.router(state: berlinGroupState, publicURL: { urls.berlinGroup }), port: berlingroupPort, name: "berlingroup")
        // The same bank under a base path (the specification's /psd2 examples), on a port of its own.
        let (psd2PortBound, psd2) = try await startServer(
            router: BerlinGroupSandbox.router(state: berlinGroupState, publicURL: { urls.berlinGroup }, basePath: "/psd2"), port: 0, name: "berlingroup-psd2")
        urls.set(goCardless: "http://127.0.0.1:\(goCardlessPortBound)", berlinGroup: "http://127.0.0.1:\(berlinGroupPortBound)")
        let settings = """
            FLOWPAY_API_URL=http://127.0.0.1:\(flowpayPortBound)
            FLOWPAY_TOKEN_URL=http://127.0.0.1:\(flowpayPortBound)/oauth/token
            GOCARDLESS_API_URL=http://127.0.0.1:\(goCardlessPortBound)
            SANDBOX_BERLINGROUP_URL=http://127.0.0.1:\(berlinGroupPortBound)
            SANDBOX_BERLINGROUP_PSD2_URL=http://127.0.0.1:\(psd2PortBound)/psd2

            """
        if let envFile { try settings.write(toFile: envFile, atomically: true, encoding: .utf8) }
        FileHandle.standardOutput.write(Data(("sandbox peers running:\n" + settings).utf8))
        try await waitForTermination()
        for server in [flowpay, goCardless, berlinGroup, psd2] { server.cancel() }
    }
}

/// The sandboxes' own base URLs, known once they are bound (links they hand out point back at them).
final class PublicURLs: @unchecked Sendable {
    private let lock = NSLock()
    private var values = ("", "")
    var goCardless: String { lock.withLock { values.0 } }
    var berlinGroup: String { lock.withLock { values.1 } }
    func set(goCardless: String, berlinGroup: String) { lock.withLock { values = (goCardless, berlinGroup) } }
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
