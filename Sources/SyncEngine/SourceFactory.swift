import Aggregators
import AsyncHTTPClient
import BankSyncCore
import Foundation
import Store

/// Builds the `BankDataSource` of a customer from its stored source and settings, sharing one GoCardless
/// client (one token cache) and one HTTP client per Berlin Group bank configuration.
public actor SourceFactory {
    public enum Failure: Error, CustomStringConvertible {
        case notConfigured(String)
        case badSourceConfig(customer: UUID, String)

        public var description: String {
            switch self {
            case .notConfigured(let what): what
            case .badSourceConfig(let customer, let detail): "customer \(customer) has unusable source settings: \(detail)"
            }
        }
    }

    let goCardless: GoCardlessConfiguration?
    let fio: FioConfiguration
    /// Opens Fio customers' sealed tokens; nil when `BANKSYNC_SECRETS_KEY` is not configured.
    let vault: TokenVault?
    private var goCardlessClient: GoCardlessClient?
    private var fioClient: HTTPClient?
    private var httpClients: [HTTPClient] = []
    private var berlinGroupClients: [String: HTTPClient] = [:]

    /// Connections to GoCardless at once: one aggregator serves every customer of a run, and each customer reads
    /// its accounts side by side (two or three calls at once for most), so `sync` asks for three per customer it
    /// may sync at once: a request waiting for a connection spends its timeout waiting.
    let goCardlessConnections: Int

    public init(goCardless: GoCardlessConfiguration?, fio: FioConfiguration = FioConfiguration(), vault: TokenVault? = nil,
                goCardlessConnections: Int = 64) {
        self.goCardless = goCardless
        self.goCardlessConnections = goCardlessConnections
        self.fio = fio
        self.vault = vault
    }

    /// The source of a customer syncing on `session`: a Fio customer's token is opened from the store, and its calls
    /// go through the token's slot in that database (`Store.claimFioCall`). `today`: the day windows end on.
    /// `historyDays`: what Fio gives now (more than 90 only right after the holder authorised it).
    public func source(for record: CustomerRecord, session store: Store, today: Day,
                       fioHistoryDays: Int = FioConfiguration.unlockedHistoryDays) throws -> any BankDataSource {
        guard record.customer.source == .fio else { return try source(for: record) }
        guard let vault else {
            throw Failure.notConfigured("BANKSYNC_SECRETS_KEY (or BANKSYNC_SECRETS_KEY_FILE) is needed to sync Fio customers")
        }
        guard let sealed = try store.sealedSecret(customerID: record.customer.id) else {
            throw Failure.badSourceConfig(customer: record.customer.flowpayCustomerID, "no Fio token is stored: banksync customers add --source fio --token-file")
        }
        let token: String
        do { token = try vault.open(sealed) } catch {
            throw Failure.badSourceConfig(customer: record.customer.flowpayCustomerID, "\(error) (BANKSYNC_SECRETS_KEY)")
        }
        if fioClient == nil {
            let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                    configuration: SourceHTTPClient.configuration(readTimeout: 120, connectionsPerHost: 16))
            fioClient = client
            httpClients.append(client)
        }
        let key = TokenVault.fingerprint(ofToken: token)
        // The console shows the token's next allowed call: it finds the slot by this key.
        try store.noteFioTokenKey(customerID: record.customer.id, tokenKey: key)
        let interval = fio.minInterval
        let gate = FioCallGate(claim: { try store.claimFioCall(tokenKey: key, interval: interval) },
                               finish: { status in try? store.finishFioCall(tokenKey: key, interval: interval, status: status) })
        return FioSource(configuration: fio, token: token, httpClient: fioClient!, gate: gate, today: today, historyDays: fioHistoryDays)
    }

    public func source(for record: CustomerRecord) throws -> any BankDataSource {
        switch record.customer.source {
        case .gocardless:
            guard let goCardless else {
                throw Failure.notConfigured("GOCARDLESS_SECRET_ID and GOCARDLESS_SECRET_KEY are needed to sync GoCardless customers")
            }
            if goCardlessClient == nil {
                let http = goCardless.makeHTTPClient(connectionsPerHost: goCardlessConnections)
                httpClients.append(http)
                goCardlessClient = GoCardlessClient(configuration: goCardless, httpClient: http)
            }
            return GoCardlessSource(client: goCardlessClient!, requisitionID: record.customer.sourceRef)
        case .berlingroup:
            let configuration = try Self.berlinGroupConfiguration(record)
            let key = configuration.httpClientIdentity
            let http: HTTPClient
            if let existing = berlinGroupClients[key] {
                http = existing
            } else {
                do { http = try configuration.makeHTTPClient() } catch {
                    throw Failure.badSourceConfig(customer: record.customer.flowpayCustomerID, "\(error)")
                }
                berlinGroupClients[key] = http
                httpClients.append(http)
            }
            return BerlinGroupSource(configuration: configuration, httpClient: http)
        case .fio:
            throw Failure.notConfigured("a Fio customer's source is built on its database session (source(for:session:today:))")
        }
    }

    /// `source_config` of a Berlin Group customer: `{"baseURL", "clientCertificate"?, "clientKey"?, "stableTransactionIds"?}`;
    /// the consent id is the customer's source reference.
    public static func berlinGroupConfiguration(_ record: CustomerRecord) throws -> BerlinGroupConfiguration {
        guard let configuration = BerlinGroupConfiguration(sourceConfig: record.sourceConfig, consentID: record.customer.sourceRef) else {
            throw Failure.badSourceConfig(customer: record.customer.flowpayCustomerID, "baseURL (the bank's API base) is missing")
        }
        return configuration
    }

    public func shutdown() async {
        for client in httpClients { try? await client.shutdown() }
        httpClients = []
        berlinGroupClients = [:]
        goCardlessClient = nil
        fioClient = nil
    }
}
