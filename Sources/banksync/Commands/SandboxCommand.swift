import ArgumentParser
import Foundation
import Sandbox

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run the built-in sandbox peers on 127.0.0.1: Flowpay's partner API, GoCardless Bank Account Data, a Berlin Group bank and Fio banka.",
        discussion: "Prints the environment settings that point banksync at them. Stops on SIGTERM or Ctrl-C. Example: banksync sandbox --env-file /tmp/sandbox.env")

    @Option(help: "Port of the Flowpay sandbox (0 picks a free one).")
    var flowpayPort = 0
    @Option(help: "Port of the GoCardless sandbox (0 picks a free one).")
    var gocardlessPort = 0
    @Option(help: "Port of the Berlin Group bank sandbox (0 picks a free one).")
    var berlingroupPort = 0
    @Option(help: "Port of the Fio banka sandbox (0 picks a free one); its demo token is in SANDBOX_FIO_TOKEN_FILE.")
    var fioPort = 0
    @Option(help: "The Fio sandbox's interval between two calls for one token (Fio's is 30s; shorter for tests and the demo, e.g. 1s or 500ms).")
    var fioInterval = "30s"
    @Option(help: "Lifetime of issued Flowpay access tokens, in seconds.")
    var tokenLifetime = 86_400
    @Option(help: "Write the printed settings to this file as well (KEY=value lines), for scripts.")
    var envFile: String?

    @Option(help: "Serve this many synthetic customers besides the demo's (requisitions fleet-req-<n>, every tenth a Berlin Group consent fleet-consent-<n>), generated on demand from --seed.")
    var fleet: Int?
    @Option(help: "Accounts per fleet customer, a range like 1-3.")
    var accounts = "1-3"
    @Option(help: "Days of history each fleet customer asks for, a range like 90-730.")
    var historyDays = "90-730"
    @Option(help: "Latency of every GoCardless API call, e.g. 20ms (a fleet's aggregator is not on loopback).")
    var latency = "0ms"
    @Option(help: "Seed of the fleet's data: the same seed gives the same customers and bookings.")
    var seed: UInt64 = 1
    @Option(help: "Write the fleet's customers as CSV here, for `banksync customers import`.")
    var fleetCSV: String?

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
        let fleetSpec = try fleetSettings()
        if let fleetSpec {
            await goCardlessState.enableFleet(fleetSpec.fleet, latencyMilliseconds: fleetSpec.latencyMilliseconds)
            await berlinGroupState.enableFleet(fleetSpec.fleet)
            await flowpayState.keepCountsOnly()
        }
        let flowpayRouter = FlowpaySandbox.router(state: flowpayState)
        // One clock for every peer: a fleet run's next day.
        flowpayRouter.post("/_sandbox/advance-day") { _, _ -> String in
            await goCardlessState.advanceDay()
            await berlinGroupState.advanceDay()
            return await flowpayState.advanceDay().description
        }
        let fioIntervalValue = fioInterval.hasSuffix("ms") ? Int(fioInterval.dropLast(2)).map { Duration.milliseconds($0) } : parseDuration(fioInterval)
        guard let fioIntervalValue, fioIntervalValue > .zero else { throw ValidationError("--fio-interval must be a duration like 30s or 500ms") }
        let fioState = FioSandboxState(interval: fioIntervalValue, today: today)
        await fioState.seedDemo()
        let (fioPortBound, fio) = try await startServer(router: FioSandbox.router(state: fioState), port: fioPort, name: "fio")
        // The demo token goes to a file (tokens are never command-line arguments), readable only by this user.
        let fioTokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("banksync-sandbox-fio-\(ProcessInfo.processInfo.processIdentifier).token").path
        _ = FileManager.default.createFile(atPath: fioTokenFile, contents: Data(FioSandboxState.demoToken.utf8), attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(atPath: fioTokenFile) }
        let urls = PublicURLs()
        let (flowpayPortBound, flowpay) = try await startServer(router: flowpayRouter, port: flowpayPort, name: "flowpay")
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
            FIO_API_URL=http://127.0.0.1:\(fioPortBound)/v1/rest
            SANDBOX_FIO_CONTROL_URL=http://127.0.0.1:\(fioPortBound)/_sandbox/fio
            SANDBOX_FIO_TOKEN_FILE=\(fioTokenFile)

            """
        if let fleetSpec, let fleetCSV {
            try fleetSpec.fleet.writeCSV(to: fleetCSV, bankURL: "http://127.0.0.1:\(berlinGroupPortBound)")
        }
        if let envFile { try settings.write(toFile: envFile, atomically: true, encoding: .utf8) }
        FileHandle.standardOutput.write(Data(("sandbox peers running:\n" + settings).utf8))
        try await waitForTermination()
        for server in [flowpay, goCardless, berlinGroup, psd2, fio] { server.cancel() }
    }
}

extension SandboxCommand {
    func fleetSettings() throws -> (fleet: SandboxFleet, latencyMilliseconds: Int)? {
        guard let fleet else { return nil }
        guard fleet > 0 else { throw ValidationError("--fleet must be positive") }
        guard let accountRange = Self.range(accounts), accountRange.lowerBound >= 1, accountRange.upperBound <= 20 else {
            throw ValidationError("--accounts must be a range like 1-3 (1…20)")
        }
        guard let historyRange = Self.range(historyDays), historyRange.lowerBound >= 90, historyRange.upperBound <= 730 else {
            throw ValidationError("--history-days must be a range like 90-730 (90…730)")
        }
        let milliseconds = latency.hasSuffix("ms") ? Int(latency.dropLast(2)) : parseDuration(latency).map { Int($0.components.seconds) * 1_000 }
        guard let milliseconds, milliseconds >= 0 else { throw ValidationError("--latency must be a duration like 20ms") }
        return (SandboxFleet(size: fleet, seed: seed, accounts: accountRange, historyDays: historyRange), milliseconds)
    }

    /// `3` or `1-3`.
    static func range(_ text: String) -> ClosedRange<Int>? {
        let parts = text.split(separator: "-", maxSplits: 1).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard let low = parts.first ?? nil else { return nil }
        let high = parts.count == 2 ? parts[1] : low
        guard let high, low <= high else { return nil }
        return low...high
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
