import ArgumentParser
import Foundation
import Store

struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key",
        abstract: "Manage the X-API-Key keys Flowpay uses for the PULL feeds (only hashes are stored).",
        discussion: "Example: banksync api-key create --label flowpay-production; banksync api-key create --label agency --merchant m-1 --merchant m-2",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it once.")
        @Option(help: "What the key is for, e.g. flowpay-production.") var label: String
        @Option(name: .customLong("merchant"), help: "A merchant the key may read (repeat for several); none: every merchant.")
        var merchants: [String] = []

        func run() async throws {
            try await reportingErrors {
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                let (id, key) = try store.createAPIKey(label: label, merchants: merchants.isEmpty ? nil : merchants)
                FileHandle.standardError.write(Data("banksync: key \(id) created; it is shown once and cannot be recovered\n".utf8))
                print(key)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never the keys themselves).")

        func run() async throws {
            try await reportingErrors {
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                print(Table.render(header: ["id", "label", "merchants", "created", "revoked"], rows: try store.apiKeys().map {
                    [String($0.id), $0.label, $0.merchants.map { $0.joined(separator: ",") } ?? "all",
                     LagFormat.iso($0.createdAt), $0.revokedAt.map(LagFormat.iso) ?? "-"]
                }))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id.")
        @Argument(help: "Key id (from list).") var id: Int64

        func run() async throws {
            try await reportingErrors {
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                guard try store.revokeAPIKey(id: id) else { fail("no active key \(id)", code: ExitStatus.partialFailure) }
                print("revoked key \(id)")
            }
        }
    }
}
