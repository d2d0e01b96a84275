import Aggregators
import ArgumentParser
import AsyncHTTPClient
import BankSyncCore
import Foundation
import Store
import SyncEngine

struct LinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link",
        abstract: "Start a bank connection: create the consent and print the bank link to send to the customer.",
        discussion: """
            The bank sends the customer back to BANKSYNC_PUBLIC_URL/consents/<source>/callback, which `banksync serve` answers \
            (and then syncs the customer at once). Example: banksync link --customer 0f8e… --merchant-id m-42 --source gocardless --institution SANDBOXFINANCE_SFIN0000

            Fio banka (a customer registered with customers add --source fio): Fio gives 90 days of history until the account \
            holder authorises more in Internetbanking, and then only for 10 minutes. `link --source fio --customer X \
            --history-days 730` prints, in Czech and English, what the merchant must authorise, waits for a line on standard \
            input (the merchant's confirmation), then reads the history within those 10 minutes, one call per token per \
            FIO_MIN_INTERVAL (30 s), in pieces of --piece-days.
            """)

    @Option(help: "Flowpay customer id (UUID).") var customer: String
    @Option(help: "The partner's merchant id (needed when the customer is new).") var merchantID: String?
    @Option(help: "gocardless, berlingroup or fio (the deep history of a registered Fio customer).") var source: String
    @Option(help: "GoCardless institution id, e.g. SANDBOXFINANCE_SFIN0000 (a renewal asks the bank of the stored consent when not given).")
    var institution: String?
    @Option(help: "Berlin Group bank API base URL.") var bankURL: String?
    @Option(help: "Days of history, 90…730.") var historyDays = SyncWindow.defaultHistoryDays
    @Option(help: "Days the access stays valid.") var accessDays = 90
    @Option(help: "PEM client certificate for the bank's mutual TLS (Berlin Group); a renewal keeps the stored one unless given.")
    var clientCertificate: String?
    @Option(help: "PEM private key for the client certificate (Berlin Group).") var clientKey: String?
    @Option(help: "PEM certificate of the CA that signed the bank's server certificate, when not a public one (Berlin Group); a renewal keeps the stored one unless given.")
    var bankCa: String?
    @Option(help: "Fio: days per call of the deep backfill (730: the whole history in one call; smaller when one answer is too large).")
    var pieceDays = 730

    func run() async throws {
        try await reportingErrors {
            let environment = Environment()
            guard let customerID = UUID(uuidString: customer) else { throw ConfigError(setting: "--customer", problem: "'\(customer)' is not a UUID") }
            guard let kind = Customer.Source(rawValue: source) else {
                throw ConfigError(setting: "--source", problem: "unknown source '\(source)'; use gocardless, berlingroup or fio")
            }
            guard SyncWindow.historyDaysRange.contains(historyDays) else {
                throw ConfigError(setting: "--history-days", problem: "\(historyDays) is outside 90…730")
            }
            guard (1...180).contains(accessDays) else { throw ConfigError(setting: "--access-days", problem: "must be 1…180") }
            if kind == .fio {
                try await FioLink(customerID: customerID, historyDays: historyDays, pieceDays: pieceDays, environment: environment).run()
                return
            }
            guard let publicURL = environment.value("BANKSYNC_PUBLIC_URL"), publicURL.hasPrefix("http") else {
                throw ConfigError.missing("BANKSYNC_PUBLIC_URL", "set it to the address where `banksync serve` is reachable by customers")
            }
            let store = try Store.connect(try DatabaseSettings.load(environment).connectionString)
            defer { store.connection.close() }
            // Before the bank is asked for a consent: a link made against another schema could not be stored as this build stores it.
            try store.requireSchemaOfThisBuild()
            let existing = try store.customer(flowpayCustomerID: customerID)
            guard let merchant = merchantID ?? existing?.customer.merchantID else {
                throw ConfigError.missing("--merchant-id", "the customer is new, so its merchant id is needed")
            }
            let goCardlessSettings = try GoCardlessSettings.load(environment)
            let today = try ClockSettings.load(environment).today
            // Never following a redirect away from the aggregator or the bank (SourceHTTPClient).
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: SourceHTTPClient.configuration(readTimeout: 90))
            let goCardless = goCardlessSettings.map { GoCardlessClient(configuration: $0, httpClient: http) }
            let maker = ConsentLinkMaker(goCardless: goCardless, http: http, callbackBase: publicURL)
            let request = ConsentLinkRequest(flowpayCustomerID: customerID, merchantID: merchant, source: kind, historyDays: historyDays,
                                             accessDays: accessDays, institution: institution, bankURL: bankURL, clientCertificate: clientCertificate,
                                             clientKey: clientKey, bankCA: bankCa, today: today)
            let link: NewConsentLink
            do {
                link = try await maker.create(request, existing: existing)
                try? await http.shutdown()
            } catch let error as ConsentLinkError {
                try? await http.shutdown()
                throw ConfigError(setting: error.setting, problem: error.problem)
            } catch {
                try? await http.shutdown()
                throw error
            }
            try await store.record(link)
            print(link.link)
        }
    }
}
