import ArgumentParser
import Flowpay
import Foundation
import Logging
import Store
import SyncEngine

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Push what is queued to Flowpay (accounts, new transactions, bank-accounts-updated); safe to kill and rerun.",
        discussion: """
            Rows Flowpay refused (400/422) are quarantined and parked batches wait: --requeue-rejected sends them again \
            (after a fix on either side), --drop-rejected --reason TEXT gives quarantined rows up for good.
            Example: banksync push --requeue-rejected --customer 0f8e…
            """)

    @Option(help: "Only this customer (Flowpay customer id).")
    var customer: String?

    @Flag(help: "Send quarantined rows again and reopen parked batches (all, or --customer / --batch), then push.")
    var requeueRejected = false

    @Flag(help: "Give quarantined rows up for good (needs --reason); they are never sent.")
    var dropRejected = false

    @Option(help: "Only the rows of this refused or parked batch (with --requeue-rejected / --drop-rejected).")
    var batch: Int64?

    @Option(help: "Why the rows are dropped (recorded with them).")
    var reason: String?

    func run() async throws {
        try await reportingErrors {
            let customerID = try customer.map { text in
                guard let id = UUID(uuidString: text) else { throw ConfigError(setting: "--customer", problem: "'\(text)' is not a UUID") }
                return id
            }
            guard !(requeueRejected && dropRejected) else {
                throw ConfigError(setting: "--drop-rejected", problem: "cannot be combined with --requeue-rejected")
            }
            if dropRejected {
                guard let reason, !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw ConfigError.missing("--reason", "say why the refused rows are given up")
                }
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                let internalID = try Self.internalID(of: customerID, in: store)
                let resolution = try await store.dropRejected(customerID: internalID, batchID: batch, reason: reason)
                print("dropped \(resolution.rowsDropped) refused transaction(s)")
                return
            }
            let database = try DatabaseSettings.load()
            let flowpayConfiguration = try FlowpaySettings.load()
            let store = try Store.connect(database.connectionString)
            defer { store.connection.close() }
            try store.requireSchemaOfThisBuild()
            if requeueRejected {
                let internalID = try Self.internalID(of: customerID, in: store)
                let resolution = try await store.requeueRejected(customerID: internalID, batchID: batch)
                print("requeued \(resolution.rowsRequeued) refused transaction(s), reopened \(resolution.batchesReopened) parked batch(es)")
            }
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

extension PushCommand {
    /// The store's id of the customer `--customer` names (nil: all customers); an unknown one ends the command.
    static func internalID(of flowpayCustomerID: UUID?, in store: Store) throws -> Int64? {
        try flowpayCustomerID.map { id in
            guard let record = try store.customer(flowpayCustomerID: id) else { fail("no customer with Flowpay id \(id)", code: ExitStatus.partialFailure) }
            return record.customer.id
        }
    }
}
