import ArgumentParser
import Foundation
import Store

/// New bookings BankSync stored but neither sent nor merged, because one fetch could not tell what they are (the
/// bank's edit of a stored booking, or another booking while the stored one was missing from that fetch). A later
/// fetch usually decides; these commands show the evidence and let ops decide the rest.
struct HeldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "held",
        abstract: "Bookings held until evidence decides what they are (shown in lag; an interruption after 3 days).",
        discussion: """
            Example: banksync held list --customer 0f8e…; banksync held release bs_1a2b… --reason "two purchases, receipt seen"; \
            banksync held merge bs_1a2b… --reason "the bank renamed the shop"
            """,
        subcommands: [List.self, Release.self, Merge.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List held bookings, oldest first, beside the stored booking each may be an edit of.")
        @Option(help: "Only this customer (Flowpay customer id).") var customer: String?

        func run() async throws {
            try await reportingErrors {
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                let rows = try store.heldTransactions(flowpayCustomerID: try UnreadableCommand.uuid(customer))
                guard !rows.isEmpty else { return print("no held bookings") }
                print(Table.render(header: ["held id", "merchant", "account", "day", "amount", "held since", "reason", "held: counterparty / text",
                                            "may be an edit of", "stored: counterparty / text"], rows: rows.map { row in
                    [row.flowpayID, row.merchantID, row.account, row.bookingDate.description, "\(row.amountMinor) \(row.currency)",
                     LagFormat.iso(row.since), row.reason, describe(row.counterpartyName, row.remittance),
                     row.candidate?.flowpayID ?? "- (gone)", row.candidate.map { describe($0.counterpartyName, $0.remittance) } ?? "-"]
                }))
            }
        }

        private func describe(_ name: String?, _ text: String?) -> String { "\(name ?? "-") / \(text ?? "-")".prefix(60).description }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Decide that a held booking is a new booking: it is sent to Flowpay on the next push.")
        @Argument(help: "The held booking's id (bs_…, from held list).") var flowpayID: String
        @Option(help: "Why (recorded with the decision).") var reason: String

        func run() async throws {
            try await HeldCommand.decide(flowpayID, merge: false, reason: reason)
            print("released \(flowpayID): queued for Flowpay (banksync push, or the next sync, sends it)")
        }
    }

    struct Merge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide that a held booking is the bank's edit of the stored booking beside it: that one takes its content, nothing is sent.")
        @Argument(help: "The held booking's id (bs_…, from held list).") var flowpayID: String
        @Option(name: .customLong("into"), help: "Another stored booking of the account to merge into (bs_…); default: the one it was held beside.")
        var mergeInto: String?
        @Option(help: "Why (recorded with the decision).") var reason: String

        func run() async throws {
            try await HeldCommand.decide(flowpayID, merge: true, mergeInto: mergeInto, reason: reason)
            print("merged \(flowpayID) into the stored booking it resembled (nothing sent; see lag's edits column)")
        }
    }

    static func decide(_ flowpayID: String, merge: Bool, mergeInto: String? = nil, reason: String) async throws {
        try await reportingErrors {
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ConfigError.missing("--reason", "say why, it is recorded with the decision")
            }
            let store = try Store.connect(try DatabaseSettings.load().connectionString)
            defer { store.connection.close() }
            try store.requireSchemaOfThisBuild()
            let who = OperatorName.current
            do {
                try await store.decideHold(flowpayID: flowpayID, merge: merge, mergeInto: mergeInto, reason: reason, operator: who)
            } catch let error as HoldError {
                fail(error.description, code: ExitStatus.partialFailure)
            }
        }
    }
}
