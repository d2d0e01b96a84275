import Aggregators
import AsyncHTTPClient
import BankSyncCore
import Foundation
import Sandbox
import TestSupport

/// The GoCardless and Berlin Group sandboxes on free loopback ports, with clients pointed at them.
struct SandboxPeers {
    let goCardless: GoCardlessSandboxState
    let berlinGroup: BerlinGroupSandboxState
    let goCardlessURL: String
    let berlinGroupURL: String
    let servers: [SandboxServer]
    let http: HTTPClient
    /// The day both banks treat as today.
    let today: Day
    static let secretID = "test-secret-id"
    static let secretKey = "test-secret-key-\(UUID())"

    static func with<T>(pageSize: Int = 100, today: Day = TestCalendar.today, _ body: (SandboxPeers) async throws -> T) async throws -> T {
        let goCardless = GoCardlessSandboxState(secretID: secretID, secretKey: secretKey, today: today)
        await goCardless.seedDemo()
        let berlinGroup = BerlinGroupSandboxState(pageSize: pageSize, today: today)
        await berlinGroup.seedDemo()
        let (gcPort, gcServer) = try await startServer(router: GoCardlessSandbox.router(state: goCardless, publicURL: { "http://127.0.0.1" }), name: "gc-test")
        let (bgPort, bgServer) = try await startServer(router: BerlinGroupSandbox.router(state: berlinGroup, publicURL: { "http://127.0.0.1" }), name: "bg-test")
        let peers = SandboxPeers(goCardless: goCardless, berlinGroup: berlinGroup, goCardlessURL: "http://127.0.0.1:\(gcPort)",
                                 berlinGroupURL: "http://127.0.0.1:\(bgPort)", servers: [gcServer, bgServer],
                                 http: HTTPClient(eventLoopGroupProvider: .singleton), today: today)
        defer { peers.servers.forEach { $0.cancel() } }
        do {
            let result = try await body(peers)
            try await peers.http.shutdown()
            return result
        } catch {
            try? await peers.http.shutdown()
            throw error
        }
    }

    var goCardlessConfiguration: GoCardlessConfiguration {
        GoCardlessConfiguration(apiURL: goCardlessURL, secretID: Self.secretID, secretKey: Self.secretKey)
    }

    func goCardlessSource(_ requisition: String = "sandbox-req-1") -> GoCardlessSource {
        GoCardlessSource(client: GoCardlessClient(configuration: goCardlessConfiguration, httpClient: http), requisitionID: requisition)
    }

    func berlinGroupSource(_ consent: String = "sandbox-consent-1") -> BerlinGroupSource {
        BerlinGroupSource(configuration: BerlinGroupConfiguration(baseURL: berlinGroupURL, consentID: consent), httpClient: http)
    }

    func goCardlessControl(_ json: String) async throws {
        await _ = goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self, from: Data(json.utf8)))
    }

    func berlinGroupControl(_ json: String) async throws {
        await _ = berlinGroup.apply(try JSONDecoder().decode(BerlinGroupSandboxState.Control.self, from: Data(json.utf8)))
    }
}

/// Collects a page stream, counting pages.
func collect(_ stream: AsyncThrowingStream<[BankTransaction], any Error>) async throws -> (pages: Int, transactions: [BankTransaction]) {
    var pages = 0
    var all: [BankTransaction] = []
    for try await page in stream {
        pages += 1
        all += page
    }
    return (pages, all)
}

/// Today for these suites: fixed for the whole run (a test crossing midnight sees one day).
let today = TestCalendar.today
