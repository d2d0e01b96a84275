import ArgumentParser
import Foundation
import Store
import SyncEngine

/// `banksync secrets rotate`: re-seals every stored source secret (Fio tokens) under a new key.
struct SecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Manage the key that seals source secrets (Fio tokens) at rest.",
        subcommands: [Rotate.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-seal every stored token under a new key, in one transaction.",
            discussion: """
                Reads the current key from BANKSYNC_SECRETS_KEY (or _FILE) and the new one from BANKSYNC_SECRETS_NEW_KEY (or \
                BANKSYNC_SECRETS_NEW_KEY_FILE), both base64 of 32 bytes. Every token is opened with the current key and sealed \
                with the new one in one database transaction: all or none (a token the current key cannot open stops the \
                rotation and changes nothing). Then deploy the new key as BANKSYNC_SECRETS_KEY everywhere; a worker still on \
                the old key fails its Fio customers (naming BANKSYNC_SECRETS_KEY) until it has the new one. \
                Example: BANKSYNC_SECRETS_NEW_KEY_FILE=/run/secrets/new.key banksync secrets rotate
                """)

        func run() async throws {
            try await reportingErrors {
                guard let current = try FioSettings.vault(required: true) else { return }
                guard let new = try FioSettings.vault(name: "BANKSYNC_SECRETS_NEW_KEY", required: true,
                                                      purpose: "the key every stored token is sealed with from now on") else { return }
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                let count: Int
                do {
                    count = try await store.resealAllSecrets { sealed in try new.seal(try current.open(sealed)) }
                } catch let error as TokenVault.Failure {
                    throw ConfigError(setting: "BANKSYNC_SECRETS_KEY", problem: "\(error); nothing was changed")
                }
                print("re-sealed \(count) stored token(s) with the new key; now set BANKSYNC_SECRETS_KEY to it everywhere")
            }
        }
    }
}
