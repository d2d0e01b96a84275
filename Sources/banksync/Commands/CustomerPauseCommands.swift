import ArgumentParser
import Foundation
import Store

/// `customers pause|resume`: the ops console's pause and resume from a shell. A paused customer is not synced (sync
/// claims skip it) and `lag` shows it as `paused`; recorded on the customer's timeline with who and why.
extension CustomersCommand {
    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop syncing a customer until it is resumed (lag shows it as paused).",
            discussion: "Example: banksync customers pause 0f8e… --reason \"customer closing the account\"")
        @Argument(help: "Flowpay customer id.") var flowpayID: String
        @Option(help: "Why (recorded on the customer's timeline).") var reason: String

        func run() async throws {
            let change = try await CustomersCommand.setPaused(flowpayID, paused: true, reason: reason)
            print("paused customer \(flowpayID) (before: \(change.before)); syncs skip it until banksync customers resume")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sync a paused customer again.",
            discussion: "Example: banksync customers resume 0f8e… --reason \"account stays open\"")
        @Argument(help: "Flowpay customer id.") var flowpayID: String
        @Option(help: "Why (recorded on the customer's timeline).") var reason: String

        func run() async throws {
            let change = try await CustomersCommand.setPaused(flowpayID, paused: false, reason: reason)
            print("resumed customer \(flowpayID) (before: \(change.before)); the next sync takes it")
        }
    }

    static func setPaused(_ flowpayID: String, paused: Bool, reason: String) async throws -> (before: String, after: String) {
        try await reportingErrors {
            guard let id = UUID(uuidString: flowpayID) else { throw ConfigError(setting: "flowpay id", problem: "'\(flowpayID)' is not a UUID") }
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ConfigError.missing("--reason", "say why, it is recorded") }
            let store = try Store.connect(try DatabaseSettings.load().connectionString)
            defer { store.connection.close() }
            try store.requireSchemaOfThisBuild()
            do {
                return try await store.setCustomerPaused(flowpayCustomerID: id, paused: paused, by: OperatorName.current, reason: reason, via: "the CLI")
            } catch let error as ConsoleActionError {
                fail(error.description, code: ExitStatus.partialFailure)
            }
        }
    }
}

/// Who runs an operator command: the user behind sudo, else the login user.
enum OperatorName {
    static var current: String {
        ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "an operator"
    }
}
