import Aggregators
import AsyncHTTPClient
import Flowpay
import Foundation
import Logging
import Postgres
import Store
import SyncEngine

/// `banksync doctor`: each check in order, reported as it finishes. A check that cannot run because an
/// earlier one failed (no database, so no customers to look at) is not repeated as a failure of its own.
struct Doctor {
    let environment: Environment
    /// A client certificate closer than this to its expiry is a warning.
    static let certificateWarningDays = 30

    /// Returns whether every needed check passed (warnings and skipped checks do not count against it).
    func run(report: (DoctorCheck) -> Void) async -> Bool {
        var healthy = true
        func record(_ check: DoctorCheck) {
            if check.outcome == .failed { healthy = false }
            report(check)
        }

        // 1. Configuration: everything a sync needs, read the way the commands read it.
        let database = configured("DATABASE_URL") { try DatabaseSettings.load(environment) }
        let flowpay = configured("FLOWPAY_CLIENT_ID/SECRET") { try FlowpaySettings.load(environment) }
        let goCardless = configured("GOCARDLESS_SECRET_ID/KEY") { try GoCardlessSettings.load(environment) }
        let clock = configured(ClockSettings.variable) { try ClockSettings.load(environment) }
        let problems = [database.problem, flowpay.problem, goCardless.problem, clock.problem].compactMap { $0 }
        if problems.isEmpty {
            var detail = "DATABASE_URL, Flowpay credentials (\(environment.value("FLOWPAY_ENV") ?? "test"))"
            detail += goCardless.value.flatMap { $0 } == nil ? ", no GoCardless credentials" : ", GoCardless credentials"
            if let sql = database.value?.migrationsDirectory.path { detail += "; migrations in \(sql)" }
            record(.passed("configuration", detail))
        } else {
            for problem in problems { record(problem) }
        }
        if environment.value("FLOWPAY_WEBHOOK_SECRET") == nil, (try? environment.secret("FLOWPAY_WEBHOOK_SECRET")) == nil {
            record(.warning("webhook secret", "FLOWPAY_WEBHOOK_SECRET is not set: `banksync serve` records webhooks but never trusts them",
                            fix: "set FLOWPAY_WEBHOOK_SECRET or FLOWPAY_WEBHOOK_SECRET_FILE to the secret Flowpay signs webhooks with"))
        }

        // 2. Database and schema.
        var sources: ConfiguredSources?
        if let settings = database.value {
            let (check, store) = connect(settings)
            record(check)
            if let store {
                defer { store.connection.close() }
                let schema = migrations(settings, store.connection)
                record(schema)
                if schema.outcome == .failed {
                    record(.skipped("customers", "not read: the schema is not current"))
                } else {
                    do {
                        sources = try store.configuredSources()
                    } catch {
                        record(.failed("customers", "cannot read the customers table: \(error)", fix: "run `banksync migrate`"))
                    }
                    record(fioCheck(store))
                }
            }
        } else {
            record(.skipped("database", "not checked: DATABASE_URL is not usable"))
        }

        // 3. Flowpay.
        if let configuration = flowpay.value {
            for check in await flowpayChecks(configuration) { record(check) }
        } else {
            record(.skipped("Flowpay token", "not checked: the Flowpay settings are incomplete"))
        }

        // 4. GoCardless.
        if let configuration = goCardless.value.flatMap({ $0 }) {
            record(await goCardlessCheck(configuration))
        } else if let count = sources?.goCardlessCustomers, count > 0, goCardless.problem == nil {
            record(.failed("GoCardless", "\(count) GoCardless customer(s) but no credentials",
                           fix: "set GOCARDLESS_SECRET_ID and GOCARDLESS_SECRET_KEY (or GOCARDLESS_SECRET_KEY_FILE)"))
        } else if goCardless.problem == nil {
            record(.skipped("GoCardless", "no credentials configured and no GoCardless customers"))
        }

        // 5. Berlin Group banks, one check per distinct bank configuration.
        if let sources {
            if sources.berlinGroupBanks.isEmpty {
                record(.skipped("Berlin Group", "no Berlin Group customers"))
            }
            for bank in sources.berlinGroupBanks {
                for check in await berlinGroupChecks(bank) { record(check) }
            }
        }

        // 6. The public URL the banks send customers back to.
        record(publicURLCheck(linksUsed: sources?.consentLinksUsed ?? false))
        return healthy
    }

    /// A settings loader's value, or the configuration line saying what is wrong.
    func configured<T>(_ what: String, _ load: () throws -> T) -> (value: T?, problem: DoctorCheck?) {
        do {
            return (try load(), nil)
        } catch let error as ConfigError {
            return (nil, .failed("configuration", error.description, fix: "see README.md, Configuration; secrets may come from NAME_FILE"))
        } catch {
            return (nil, .failed("configuration", "\(what): \(error)", fix: "see README.md, Configuration"))
        }
    }

    func connect(_ settings: DatabaseSettings) -> (DoctorCheck, Store?) {
        do {
            let store = try Store.connect(settings.connectionString)
            let version = (try? store.connection.queryValue(String.self, "SHOW server_version")) ?? "?"
            return (.passed("database", "reachable, PostgreSQL \(version)"), store)
        } catch {
            return (.failed("database", "cannot connect: \(Self.firstLine(error))",
                            fix: "check DATABASE_URL (host, port, user, database) and that the server is running"), nil)
        }
    }

    func migrations(_ settings: DatabaseSettings, _ connection: PostgresConnection) -> DoctorCheck {
        do {
            let migrator = Migrator(migrations: try Migration.load(from: settings.migrationsDirectory))
            let (version, pending) = try migrator.status(connection)
            guard pending.isEmpty else {
                return .failed("migrations", "schema at version \(version); pending: \(pending.joined(separator: ", "))", fix: "run `banksync migrate`")
            }
            return .passed("migrations", "schema current at version \(version)")
        } catch {
            return .failed("migrations", "\(Self.firstLine(error))", fix: "run `banksync migrate`; check BANKSYNC_SQL_DIR")
        }
    }

    func flowpayChecks(_ configuration: FlowpayConfiguration) async -> [DoctorCheck] {
        var quick = configuration
        // A doctor answers in seconds: one retry, not the sync's five minutes of backoff.
        quick.retry = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(200), maxDelay: .seconds(1), maxTotal: .seconds(5))
        quick.connectTimeout = .seconds(5)
        quick.requestTimeout = .seconds(15)
        let http = FlowpayClient.makeHTTPClient(quick)
        var quiet = Logger(label: "banksync.doctor")
        quiet.logLevel = .error   // the expected 404 of the access probe is not a warning
        let checks = await flowpayChecks(FlowpayClient(configuration: quick, http: http, logger: quiet), configuration)
        try? await http.shutdown()
        return checks
    }

    func flowpayChecks(_ client: FlowpayClient, _ configuration: FlowpayConfiguration) async -> [DoctorCheck] {
        do {
            try await client.checkToken()
        } catch {
            return [.failed("Flowpay token", "none obtained from \(configuration.tokenURL) for client \(configuration.clientID): \(Self.firstLine(error))",
                            fix: "check FLOWPAY_CLIENT_ID, FLOWPAY_CLIENT_SECRET (or _FILE), FLOWPAY_ENV / FLOWPAY_TOKEN_URL")]
        }
        var checks: [DoctorCheck] = [.passed("Flowpay token", "obtained from \(configuration.tokenURL) for client \(configuration.clientID)")]
        do {
            try await client.checkAccess()
            checks.append(.passed("Flowpay API", "\(configuration.apiURL) answers authenticated requests"))
        } catch {
            checks.append(.failed("Flowpay API", "\(configuration.apiURL): \(Self.firstLine(error))",
                                  fix: "check FLOWPAY_API_URL / FLOWPAY_ENV and FLOWPAY_AUDIENCE; ask Flowpay whether the client may call the partner API"))
        }
        return checks
    }

    func goCardlessCheck(_ configuration: GoCardlessConfiguration) async -> DoctorCheck {
        // As the sync reaches GoCardless: a redirect is not followed (the secrets never go to another host).
        let http = configuration.makeHTTPClient(connectionsPerHost: 1)
        let client = GoCardlessClient(configuration: configuration, httpClient: http)
        do {
            try await client.checkCredentials()
            try? await http.shutdown()
            return .passed("GoCardless", "secrets accepted by \(configuration.apiURL)")
        } catch {
            try? await http.shutdown()
            return .failed("GoCardless", "\(configuration.apiURL): \(Self.firstLine(error))",
                           fix: "check GOCARDLESS_SECRET_ID and GOCARDLESS_SECRET_KEY (user secrets from the GoCardless portal), GOCARDLESS_API_URL")
        }
    }

    func berlinGroupChecks(_ bank: CustomerRecord) async -> [DoctorCheck] {
        let configuration: BerlinGroupConfiguration
        do {
            configuration = try SourceFactory.berlinGroupConfiguration(bank)
        } catch {
            return [.failed("Berlin Group", "\(error)", fix: "re-register the customer with `banksync customers add … --bank-url`")]
        }
        let name = "bank \(configuration.baseURL)"
        var checks: [DoctorCheck] = []
        do {
            if let expiry = try configuration.certificateExpiry() {
                let days = Int(floor(expiry.timeIntervalSinceNow / 86_400))
                let when = "client certificate \(configuration.clientCertificatePath ?? "") expires \(LagFormat.iso(expiry))"
                if days < 0 {
                    checks.append(.failed(name, "\(when), \(-days) day(s) ago", fix: "renew the QWAC with the bank's trust service and replace the PEM files"))
                } else if days < Self.certificateWarningDays {
                    checks.append(.warning(name, "\(when), in \(days) day(s)", fix: "renew the QWAC now and replace the PEM files before it runs out"))
                } else {
                    checks.append(.passed(name, "\(when), in \(days) days"))
                }
            }
        } catch {
            return [.failed(name, "\(error)", fix: "check the --client-certificate and --client-key files (PEM, readable by the worker)")]
        }
        let http: HTTPClient
        // Seconds, not the sync's patience: an unreachable bank is reported, not waited for.
        do { http = try configuration.makeHTTPClient(connectTimeout: 3) } catch {
            return checks + [.failed(name, "\(error)", fix: "check the --client-certificate and --client-key files")]
        }
        let answer: Result<String, SourceError>
        do {
            answer = .success(try await BerlinGroupSource(configuration: configuration, httpClient: http).checkReachable())
        } catch {
            answer = .failure(error)
        }
        try? await http.shutdown()
        switch answer {
        case .success(let status) where status != "?":
            checks.append(.passed(name, "answers (consent of \(bank.customer.merchantID): \(status))"))
        case .success:
            checks.append(.failed(name, "answered without a consentStatus", fix: "check the bank URL is the bank's Berlin Group API base"))
        case .failure(.unavailable(let detail)):
            checks.append(.failed(name, "unreachable: \(detail)", fix: "check the bank URL, DNS, firewall and the bank's status page"))
        case .failure(.unauthorised(let detail)):
            checks.append(.failed(name, "refuses our credentials: \(detail)", fix: "check the client certificate is the one registered with the bank"))
        case .failure(.consentExpired(let detail)), .failure(.consentPending(let detail)):
            // The bank answered: a consent matter (expired, pending) is the customer's and shows in `banksync lag`.
            checks.append(.passed(name, "answers (consent of \(bank.customer.merchantID): \(detail))"))
        case .failure(let error):
            checks.append(.failed(name, "does not answer as a Berlin Group AIS API: \(error)",
                                  fix: "check the bank URL (its API base, e.g. https://bank.example/psd2) and the bank's status page"))
        }
        return checks
    }

    func publicURLCheck(linksUsed: Bool) -> DoctorCheck {
        let fix = "set BANKSYNC_PUBLIC_URL to the https address where `banksync serve` is reachable by customers"
        guard let url = environment.value("BANKSYNC_PUBLIC_URL") else {
            return linksUsed ? .failed("public URL", "BANKSYNC_PUBLIC_URL is not set, but consent links are in use", fix: fix)
                : .skipped("public URL", "not set; needed only for `banksync link`")
        }
        guard url.hasPrefix("https://") || url.hasPrefix("http://"), URL(string: url)?.host != nil else {
            return .failed("public URL", "BANKSYNC_PUBLIC_URL '\(url)' is not an http(s) URL", fix: fix)
        }
        return .passed("public URL", url)
    }

    static func firstLine(_ error: any Error) -> String {
        String(String(describing: error).split(separator: "\n").first ?? "")
    }
}
