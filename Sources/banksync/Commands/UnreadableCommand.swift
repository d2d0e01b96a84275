import ArgumentParser
import Foundation
import Store

/// Rows a source sent that the mapping could not read (an impossible date, too many decimals): kept raw by the
/// sync, listed and dismissed here.
struct UnreadableCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unreadable",
        abstract: "Rows a source sent that could not be read (kept raw, shown by lag --interruptions until dismissed).",
        discussion: "Example: banksync unreadable list --customer 0f8e…; banksync unreadable dismiss --customer 0f8e… --reason \"bank confirmed a test booking\"",
        subcommands: [List.self, Dismiss.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List unreadable rows, newest first, with field, reason and the raw row.")
        @Option(help: "Only this customer (Flowpay customer id).") var customer: String?
        @Flag(help: "Dismissed rows too.") var all = false

        func run() async throws {
            try await reportingErrors {
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                let rows = try store.unreadableRows(customerID: try PushCommand.internalID(of: UnreadableCommand.uuid(customer), in: store),
                                                    includingDismissed: all)
                guard !rows.isEmpty else { return print("no unreadable rows") }
                print(Table.render(header: ["flowpay id", "account", "field", "reason", "last seen", "dismissed", "raw"], rows: rows.map {
                    [$0.flowpayCustomerID.uuidString.lowercased(), String($0.accountID), $0.field, $0.reason, LagFormat.iso($0.lastSeenAt),
                     $0.dismissed ?? "-", String($0.raw.prefix(160))]
                }))
            }
        }
    }

    struct Dismiss: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Dismiss unreadable rows (all, or one customer's), recording why.")
        @Option(help: "Only this customer (Flowpay customer id).") var customer: String?
        @Option(help: "Why they are let be (recorded with them).") var reason: String

        func run() async throws {
            try await reportingErrors {
                guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw ConfigError.missing("--reason", "say why the rows are dismissed")
                }
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                let count = try store.dismissUnreadableRows(customerID: try PushCommand.internalID(of: UnreadableCommand.uuid(customer), in: store),
                                                            reason: reason)
                print("dismissed \(count) unreadable row(s)")
            }
        }
    }

    static func uuid(_ text: String?) throws -> UUID? {
        try text.map { text in
            guard let id = UUID(uuidString: text) else { throw ConfigError(setting: "--customer", problem: "'\(text)' is not a UUID") }
            return id
        }
    }
}
