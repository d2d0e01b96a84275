import ArgumentParser
import Foundation
import Store

/// The bank's balances against the stored bookings (`lag --accounts` shows each account's difference): an operator
/// who has looked at a difference acknowledges it, as in the ops console, so Needs attention stops listing it until
/// the difference changes.
struct ReconciliationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconciliation",
        abstract: "Balance reconciliation: acknowledge an account's difference once looked at.",
        discussion: "Example: banksync reconciliation acknowledge --account 42 --reason \"bank confirmed a fee booked on the 20th\"",
        subcommands: [Acknowledge.self])

    struct Acknowledge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Acknowledge an account's current balance difference (recorded with who and why; listed again if it changes).")
        @Option(help: "The account's id (the ops console's account reconciliation page names it).") var account: Int64
        @Option(help: "Why (recorded on the customer's timeline).") var reason: String

        func run() async throws {
            try await reportingErrors {
                guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ConfigError.missing("--reason", "say why, it is recorded") }
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                do {
                    let words = try store.acknowledgeDifference(accountID: account, by: OperatorName.current, reason: reason, via: "the CLI")
                    print("acknowledged on account \(account): \(words)")
                } catch let error as ConsoleActionError {
                    fail(error.description, code: ExitStatus.partialFailure)
                }
            }
        }
    }
}
