import ArgumentParser
import Aggregators
import AsyncHTTPClient
import Flowpay
import Foundation
import Hummingbird
import Logging
import Metrics
import OpsConsole
import Postgres
import Prometheus
import PullAPI
import ServiceLifecycle
import Store
import SyncEngine

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve Flowpay's PULL feeds, the Flowpay webhook receiver and health endpoints.",
        discussion: "Listens on BANKSYNC_LISTEN (default 127.0.0.1:8080), /metrics on BANKSYNC_METRICS_LISTEN (default 127.0.0.1:9464), the ops console on BANKSYNC_CONSOLE_LISTEN (off by default; README \"Ops console\"). SIGTERM: stop accepting, finish in-flight requests, close the database. Example: BANKSYNC_LISTEN=0.0.0.0:8080 banksync serve")

    func run() async throws {
        let (settings, listen, secret, rate, expectedVersion, metricsListen, addressRate, trustedProxies, console) = try await reportingErrors {
            () async throws -> (DatabaseSettings, (String, Int), String?, Int, Int, (String, Int)?, Int, TrustedProxies, ConsoleConfiguration?) in
            let environment = Environment()
            let settings = try DatabaseSettings.load(environment)
            let listen = try Self.listenAddress(environment.value("BANKSYNC_LISTEN") ?? "127.0.0.1:8080")
            let metricsText = environment.value("BANKSYNC_METRICS_LISTEN") ?? "127.0.0.1:9464"
            let metricsListen = metricsText == "off" ? nil : try Self.listenAddress(metricsText, setting: "BANKSYNC_METRICS_LISTEN")
            let rateText = environment.value("BANKSYNC_API_RATE_PER_MINUTE") ?? "600"
            guard let rate = Int(rateText), rate > 0 else {
                throw ConfigError(setting: "BANKSYNC_API_RATE_PER_MINUTE", problem: "must be a positive integer, not '\(rateText)'")
            }
            let addressRateText = environment.value("BANKSYNC_CLIENT_RATE_PER_MINUTE") ?? "1200"
            guard let addressRate = Int(addressRateText), addressRate > 0 else {
                throw ConfigError(setting: "BANKSYNC_CLIENT_RATE_PER_MINUTE", problem: "must be a positive integer, not '\(addressRateText)'")
            }
            let trustedProxies = try Self.trustedProxies(environment)
            let console = try ConsoleConfiguration.load(environment, publicListen: listen, metricsListen: metricsListen)
            try Self.requireSchemaOfThisBuild(settings.connectionString)
            return (settings, listen, try environment.secret("FLOWPAY_WEBHOOK_SECRET"), rate, Store.schemaVersionOfThisBuild, metricsListen,
                    addressRate, trustedProxies, console)
        }
        let logger = Logger(label: "banksync.serve")
        if secret == nil { logger.warning("FLOWPAY_WEBHOOK_SECRET is not set: webhooks are recorded but never trusted") }
        let pool = ConnectionPool(connectionString: settings.connectionString)
        // Flowpay credentials serve priority syncs (a consent just linked, a webhook) and financing lookups.
        let flowpaySettings = try? FlowpaySettings.load()
        let flowpayHTTP = flowpaySettings.map { FlowpayClient.makeHTTPClient($0) }
        let flowpay = flowpaySettings.flatMap { settings in flowpayHTTP.map { FlowpayClient(configuration: settings, http: $0) } }
        var financings: (@Sendable (UUID) async throws -> UUID)?
        if let flowpay { financings = { financing in try await flowpay.financingCustomer(financing) } }
        let webhooks = WebhookProcessor(pool: pool, verifier: secret.map { WebhookVerifier(secret: $0) }, logger: logger,
                                        financings: financings)
        var apiSettings = PullAPI.Settings(expectedSchemaVersion: expectedVersion)
        apiSettings.requestsPerMinute = rate
        apiSettings.requestsPerMinutePerAddress = addressRate
        apiSettings.trustedProxies = trustedProxies
        let goCardless = try await reportingErrors { try GoCardlessSettings.load() }
        // Consent callbacks ask the aggregator or the bank: never following a redirect elsewhere.
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: SourceHTTPClient.configuration(readTimeout: 90))
        let consents = ConsentCallbacks(pool: pool, goCardless: goCardless.map { GoCardlessClient(configuration: $0, httpClient: http) },
                                        http: http, logger: logger)
        // Only the executable bootstraps the metrics backend.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let metrics = MetricsEndpoint(pool: pool, logger: logger, exposition: { registry.emitToBuffer() })
        let api = PullAPI(pool: pool, webhooks: webhooks, settings: apiSettings, logger: logger, consents: consents)
        // /metrics names every merchant and reads the database: its own listener, loopback unless configured.
        let metricsApp = metricsListen.map { address in
            Application(router: metrics.router(schemaWatch: api.schemaWatch),
                        configuration: .init(address: .hostname(address.0, port: address.1), serverName: "banksync-metrics"),
                        onServerRunning: { channel in
                            logger.info("metrics listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")"])
                        }, logger: logger)
        }
        let app = Application(router: api.router(), server: api.httpServer,
                              configuration: .init(address: .hostname(listen.0, port: listen.1), serverName: "banksync"),
                              onServerRunning: { channel in
                                  logger.info("listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")"])
                              }, logger: logger)
        // Renewal links from the console: asked of the customer's source, with the bank's redirect back to BANKSYNC_PUBLIC_URL.
        let consoleLinks = Environment().value("BANKSYNC_PUBLIC_URL").flatMap { url in
            url.hasPrefix("http") ? ConsentLinkMaker(goCardless: goCardless.map { GoCardlessClient(configuration: $0, httpClient: http) }, http: http,
                                                     callbackBase: url) : nil
        }
        // The ops console: its own listener and its own small pool (a slow console page never takes the API's connections).
        let consolePool = console.map { _ in ConnectionPool(connectionString: settings.connectionString, size: 2) }
        let consoleApp = console.flatMap { console in consolePool.map { pool in
            Application(router: OpsConsole(pool: pool, settings: console.settings, logger: Logger(label: "banksync.console"),
                                           links: consoleLinks).router(),
                        configuration: .init(address: .hostname(console.listen.0, port: console.listen.1), serverName: "banksync-console"),
                        onServerRunning: { channel in
                            logger.info("console listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")",
                                                                        "mode": "\(console.settings.mode.rawValue)"])
                        }, logger: logger)
        } }
        // Reverse order on shutdown: the server finishes in-flight requests first, then the webhook queue drains.
        let consoleHousekeeping = consolePool.map { ConsoleHousekeeping(pool: $0, logger: Logger(label: "banksync.console")) }
        var services: [any Service] = [webhooks]
        if let metricsApp { services.append(metricsApp) }
        if let consoleApp { services.append(consoleApp) }
        if let consoleHousekeeping { services.append(consoleHousekeeping) }
        services.append(app)
        // Priority syncs need Flowpay credentials; without them serve only serves.
        let prioritySources = try await reportingErrors {
            SourceFactory(goCardless: goCardless, fio: try FioSettings.load(), vault: try FioSettings.vault(required: false))
        }
        let priorityInterval = try await reportingErrors { try Self.priorityInterval() }
        if let priorityInterval, let flowpay {
            services.insert(PrioritySyncs(connectionString: settings.connectionString, sources: prioritySources,
                                          flowpay: flowpay, interval: priorityInterval,
                                          logger: Logger(label: "banksync.serve.sync")), at: 0)
        } else if priorityInterval != nil {
            logger.warning("Flowpay credentials are not set: serve runs no priority syncs (a linked consent waits for the next sync run)")
        }
        // The schema watch first (stopped last); when it finds the schema moved it throws, and the group shuts down
        // gracefully (in-flight requests finish) before serve exits non-zero.
        let configurations = [ServiceGroupConfiguration.ServiceConfiguration(service: api.schemaWatch, failureTerminationBehavior: .gracefullyShutdownGroup)]
            + services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        let group = ServiceGroup(configuration: .init(services: configurations, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await prioritySources.shutdown()
            try? await flowpayHTTP?.shutdown()
            await pool.close()
            await consolePool?.close()
            try? await http.shutdown()
            fail("serve stopped: \(error)", code: ExitStatus.cannotRun)
        }
        await prioritySources.shutdown()
        try? await flowpayHTTP?.shutdown()
        await pool.close()
        await consolePool?.close()
        try? await http.shutdown()
    }

    /// Refuses to start on a database at another schema version (exit 3). A database not reachable yet is not
    /// refused: serve starts, `/readyz` says so, and the schema watch checks once it answers.
    static func requireSchemaOfThisBuild(_ connectionString: String) throws {
        let store: Store
        do {
            store = try Store.connect(connectionString)
        } catch let error as PostgresError where error.isConnectionProblem {
            Logger(label: "banksync.serve").warning("database not reachable at start: schema version not checked yet",
                                                    metadata: ["problem": "\(error)"])
            return
        }
        defer { store.connection.close() }
        try store.requireSchemaOfThisBuild()
    }

    /// `BANKSYNC_PRIORITY_SYNC_POLL`: how often serve looks for customers to sync at once (default 10s; 0 turns it off).
    static func priorityInterval(_ environment: Environment = Environment()) throws -> Duration? {
        let text = environment.value("BANKSYNC_PRIORITY_SYNC_POLL") ?? "10s"
        guard let interval = parseDuration(text) else {
            throw ConfigError(setting: "BANKSYNC_PRIORITY_SYNC_POLL", problem: "'\(text)' is not a duration like 10s")
        }
        return interval == .zero ? nil : interval
    }

    /// `BANKSYNC_TRUSTED_PROXIES`: the ingress or load balancer addresses whose forwarded-for headers name the
    /// client (comma-separated CIDRs; default none, and then those headers are ignored).
    static func trustedProxies(_ environment: Environment, setting: String = "BANKSYNC_TRUSTED_PROXIES") throws -> TrustedProxies {
        guard let text = environment.value(setting) else { return .none }
        do {
            return try TrustedProxies(parsing: text)
        } catch {
            throw ConfigError(setting: setting, problem: error.description)
        }
    }

    static func listenAddress(_ text: String, setting: String = "BANKSYNC_LISTEN") throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            throw ConfigError(setting: setting, problem: "'\(text)' is not host:port")
        }
        return (String(text[..<colon]), port)
    }
}
