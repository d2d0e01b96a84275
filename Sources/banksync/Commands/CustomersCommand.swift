import ArgumentParser
import BankSyncCore
import Foundation
import Postgres
import Store
import SyncEngine

struct CustomersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customers",
        abstract: "Register, list, show and remove the customers BankSync syncs.",
        discussion: """
            Example: banksync customers add --flowpay-id 0f8e… --merchant-id m-42 --source gocardless --requisition 8126e9fb-…
            or: banksync customers add --flowpay-id 0f8e… --merchant-id m-43 --source fio --token-file /run/secrets/m-43.fio
            """,
        subcommands: [Add.self, Import.self, List.self, Show.self, Pause.self, Resume.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a customer whose bank consent already exists.")

        @Option(help: "Flowpay's customer id (a UUID, returned by service activation).")
        var flowpayID: String
        @Option(help: "The partner's own merchant id (used by the PULL feeds).")
        var merchantID: String
        @Option(help: """
            gocardless (a GoCardless requisition), berlingroup (a bank's Berlin Group consent) or fio (Fio banka: the \
            merchant's read-only API token, sealed at rest with BANKSYNC_SECRETS_KEY; one call per 30 s, 90 days of \
            history until the merchant authorises more, see banksync link --source fio).
            """)
        var source: String
        @Option(help: "GoCardless requisition id (with --source gocardless).")
        var requisition: String?
        @Option(help: "Berlin Group consent id (with --source berlingroup).")
        var consent: String?
        @Option(help: "Berlin Group bank API base URL (with --source berlingroup).")
        var bankURL: String?
        @Option(help: "PEM client certificate for the bank's mutual TLS (Berlin Group).")
        var clientCertificate: String?
        @Option(help: "PEM private key for the client certificate (Berlin Group).")
        var clientKey: String?
        @Option(help: "PEM certificate of the CA that signed the bank's server certificate, when not a public one (Berlin Group).")
        var bankCa: String?
        @Flag(help: "The bank's transactionId values are stable (Berlin Group); otherwise fingerprints are used.")
        var stableTransactionIds = false
        @Option(help: "File holding the Fio API token (with --source fio); the token is never accepted on the command line.")
        var tokenFile: String?
        @Option(help: "Days of history to keep, 90…730.")
        var historyDays = SyncWindow.defaultHistoryDays

        func run() async throws {
            try await reportingErrors {
                guard let flowpayUUID = UUID(uuidString: flowpayID) else {
                    throw ConfigError(setting: "--flowpay-id", problem: "'\(flowpayID)' is not a UUID")
                }
                guard let kind = Customer.Source(rawValue: source) else {
                    throw ConfigError(setting: "--source", problem: "unknown source '\(source)'; use gocardless, berlingroup or fio")
                }
                guard SyncWindow.historyDaysRange.contains(historyDays) else {
                    throw ConfigError(setting: "--history-days", problem: "\(historyDays) is outside 90…730")
                }
                guard !merchantID.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw ConfigError(setting: "--merchant-id", problem: "must not be empty")
                }
                let reference: String
                var config: [String: Any] = [:]
                switch kind {
                case .gocardless:
                    guard let requisition, !requisition.isEmpty else { throw ConfigError.missing("--requisition", "GoCardless customers need their requisition id") }
                    reference = requisition
                case .berlingroup:
                    guard let consent, !consent.isEmpty else { throw ConfigError.missing("--consent", "Berlin Group customers need their consent id") }
                    guard let bankURL, bankURL.hasPrefix("http") else { throw ConfigError.missing("--bank-url", "Berlin Group customers need the bank's API base URL") }
                    guard (clientCertificate == nil) == (clientKey == nil) else {
                        throw ConfigError(setting: "--client-certificate", problem: "give both --client-certificate and --client-key, or neither")
                    }
                    reference = consent
                    config["baseURL"] = bankURL
                    config["clientCertificate"] = clientCertificate
                    config["clientKey"] = clientKey
                    config["bankCA"] = bankCa
                    config["stableTransactionIds"] = stableTransactionIds
                case .fio:
                    guard let tokenFile else { throw ConfigError.missing("--token-file", "Fio customers need the file holding their API token") }
                    let token = try FioSettings.token(fromFile: tokenFile, setting: "--token-file")
                    guard let vault = try FioSettings.vault(required: true) else { return }
                    let store = try Store.connect(try DatabaseSettings.load().connectionString)
                    defer { store.connection.close() }
                    try store.requireSchemaOfThisBuild()
                    let fingerprint: String
                    do {
                        fingerprint = try await FioSettings.register(store: store, flowpayID: flowpayUUID, merchantID: merchantID, token: token,
                                                                     historyDays: historyDays, vault: vault)
                    } catch let error as PostgresError where error.isUniqueViolation {
                        throw ConfigError(setting: "--flowpay-id/--merchant-id", problem: "a customer with this Flowpay id or merchant id already exists")
                    }
                    print("added customer \(flowpayUUID.uuidString.lowercased()) (merchant \(merchantID), fio \(fingerprint), token sealed, \(historyDays) days)")
                    return
                }
                let configText = String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                do {
                    _ = try store.addCustomer(flowpayCustomerID: flowpayUUID, merchantID: merchantID, source: kind, sourceRef: reference,
                                              historyDays: historyDays, sourceConfig: configText)
                } catch let error as PostgresError where error.isUniqueViolation {
                    throw ConfigError(setting: "--flowpay-id/--merchant-id", problem: "a customer with this Flowpay id or merchant id already exists")
                }
                print("added customer \(flowpayUUID.uuidString.lowercased()) (merchant \(merchantID), \(kind.rawValue) \(reference), \(historyDays) days)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List customers.")

        func run() async throws {
            try await reportingErrors {
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                let rows = try store.customers().map { record in
                    [record.customer.flowpayCustomerID.uuidString.lowercased(), record.customer.merchantID, record.customer.source.rawValue,
                     record.customer.sourceRef, String(record.customer.historyDays), record.customer.status]
                }
                print(Table.render(header: ["flowpay id", "merchant", "source", "reference", "history", "status"], rows: rows))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one customer with its accounts' sync state.")
        @Argument(help: "Flowpay customer id.") var flowpayID: String

        func run() async throws {
            try await reportingErrors {
                guard let id = UUID(uuidString: flowpayID) else { throw ConfigError(setting: "flowpay id", problem: "'\(flowpayID)' is not a UUID") }
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                guard let record = try store.customer(flowpayCustomerID: id) else {
                    fail("no customer with Flowpay id \(flowpayID)", code: ExitStatus.partialFailure)
                }
                print("customer \(id.uuidString.lowercased()) merchant \(record.customer.merchantID) source \(record.customer.source.rawValue) "
                      + "\(record.customer.sourceRef) history \(record.customer.historyDays) days status \(record.customer.status)")
                let rows = try store.lagReport(perAccount: true).filter { $0.flowpayCustomerID == id }
                print(LagFormat.table(rows, perAccount: true))
                for account in try store.inactiveAccounts(customerID: record.customer.id) {
                    print("inactive: \(account.label) (not reported by the current consent since \(LagFormat.iso(account.since)); its data is kept)")
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a customer and everything stored for it.")
        @Argument(help: "Flowpay customer id.") var flowpayID: String

        func run() async throws {
            try await reportingErrors {
                guard let id = UUID(uuidString: flowpayID) else { throw ConfigError(setting: "flowpay id", problem: "'\(flowpayID)' is not a UUID") }
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                guard let record = try store.customer(flowpayCustomerID: id), try await store.removeCustomer(id: record.customer.id) else {
                    fail("no customer with Flowpay id \(flowpayID)", code: ExitStatus.partialFailure)
                }
                print("removed customer \(flowpayID)")
            }
        }
    }
}
