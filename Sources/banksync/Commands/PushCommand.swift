import ArgumentParser
import Flowpay
import Foundation
import Logging
import Store
import SyncEngine

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Push what is queued to Flowpay (accounts, new transactions, bank-accounts-updated); safe to kill and rerun.")

    @Option(help: "Only this customer (Flowpay customer id).")
    var customer: String?

    func run() async throws {
        try await reportingErrors {
            let customerID = try customer.map { text in
                guard let id = UUID(uuidString: text) else { throw ConfigError(setting: "--customer", problem: "'\(text)' is not a UUID") }
                return id
            }
            let database = try DatabaseSettings.load()
            let flowpayConfiguration = try FlowpaySettings.load()
            let store = try Store.connect(database.connectionString)
            defer { store.connection.close() }
            let http = FlowpayClient.makeHTTPClient(flowpayConfiguration)
            let logger = Logger(label: "banksync.push")
            let drain = OutboxDrain(store: store, flowpay: FlowpayClient(configuration: flowpayConfiguration, http: http), logger: logger)
            var failed: [String] = []
            for target in try store.pushTargets(flowpayCustomerID: customerID) {
                // Another worker already pushing this customer? Leave it to them.
                guard try store.tryLockCustomer(target.customerID) else { continue }
                do {
                    let outcome = try await drain.drain(target)
                    logger.info("pushed", metadata: [
                        "customer": "\(target.flowpayCustomerID)", "transactions": "\(outcome.transactionsPushed)",
                        "accounts": "\(outcome.accountsPushed)", "signalled": "\(outcome.signalled)",
                        "rejected": "\(outcome.rejected.count)",
                    ])
                    if !outcome.rejected.isEmpty { failed.append(target.flowpayCustomerID.uuidString.lowercased()) }
                } catch {
                    logger.error("push failed", metadata: ["customer": "\(target.flowpayCustomerID)", "error": "\(error)"])
                    failed.append(target.flowpayCustomerID.uuidString.lowercased())
                }
                try store.unlockCustomer(target.customerID)
            }
            try await http.shutdown()
            if !failed.isEmpty {
                fail("push incomplete for \(failed.count) customer(s): \(failed.joined(separator: ", "))", code: ExitStatus.partialFailure)
            }
        }
    }
}
