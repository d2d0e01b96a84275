import ArgumentParser
import BankSyncCore
import Foundation
import Postgres
import Store
import SyncEngine

extension CustomersCommand {
    /// Bulk onboarding: many customers whose consents already exist, from a CSV file.
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register many customers from a CSV file (header: flowpay_customer_id,merchant_id,source,reference[,history_days][,bank_url]).",
            discussion: """
                reference is the GoCardless requisition id or the Berlin Group consent id; bank_url is needed for Berlin Group. \
                For source fio, reference is the path of a file holding the customer's Fio API token (never the token itself): \
                the token is sealed with BANKSYNC_SECRETS_KEY as it is stored. \
                A bad line is reported with its number and skipped; customers already registered are counted, not changed. \
                Exits 1 when any line was bad. Example: banksync customers import customers.csv
                """)

        @Argument(help: "The CSV file.")
        var file: String

        func run() async throws {
            let bad = try await reportingErrors { () async throws -> Int in
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw ConfigError(setting: "file", problem: "cannot read \(file) as UTF-8 text")
                }
                var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
                guard let header = lines.first.map({ $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }) else {
                    throw ConfigError(setting: "file", problem: "\(file) is empty")
                }
                let required = ["flowpay_customer_id", "merchant_id", "source", "reference"]
                let missing = required.filter { !header.contains($0) }
                guard missing.isEmpty else {
                    throw ConfigError(setting: "file", problem: "the header lacks \(missing.joined(separator: ", ")) (it has \(header.joined(separator: ",")))")
                }
                lines.removeFirst()
                let store = try Store.connect(try DatabaseSettings.load().connectionString)
                defer { store.connection.close() }
                try store.requireSchemaOfThisBuild()
                var added = 0, existing = 0, bad = 0
                var vault: TokenVault?
                for (offset, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                    let number = offset + 2
                    do {
                        let row = try CustomerRow(line: String(line), header: header)
                        do {
                            if row.source == .fio {
                                let token = try FioSettings.token(fromFile: row.reference, setting: "reference")
                                if vault == nil {
                                    // The key is the whole file's problem, not this line's: exit 2 naming the setting.
                                    do { vault = try FioSettings.vault(required: true) } catch let error as ConfigError {
                                        fail(error.description, code: ExitStatus.configuration)
                                    }
                                }
                                guard let vault else { continue }
                                _ = try await FioSettings.register(store: store, flowpayID: row.flowpayID, merchantID: row.merchantID, token: token,
                                                                   historyDays: row.historyDays, vault: vault)
                            } else {
                                _ = try store.addCustomer(flowpayCustomerID: row.flowpayID, merchantID: row.merchantID, source: row.source,
                                                          sourceRef: row.reference, historyDays: row.historyDays, sourceConfig: row.sourceConfig)
                            }
                            added += 1
                        } catch let error as PostgresError where error.isUniqueViolation {
                            // The same customer again is fine; a Flowpay id or merchant id taken by another is a bad line.
                            let stored = try store.customer(flowpayCustomerID: row.flowpayID)
                            guard stored?.customer.merchantID == row.merchantID else {
                                throw ConfigError(setting: "merchant_id/flowpay_customer_id",
                                                  problem: "another customer already has this Flowpay id or merchant id")
                            }
                            existing += 1
                        }
                    } catch let error as ConfigError {
                        bad += 1
                        FileHandle.standardError.write(Data("banksync: \(file):\(number): \(error.problem)\n".utf8))
                    }
                }
                print("imported \(added) customer(s); \(existing) already registered; \(bad) bad line(s)")
                return bad
            }
            if bad > 0 { throw ExitCode(ExitStatus.partialFailure) }
        }
    }
}

/// One CSV line of `customers import`, checked as `customers add` checks its options.
struct CustomerRow {
    let flowpayID: UUID
    let merchantID: String
    let source: Customer.Source
    let reference: String
    let historyDays: Int
    let sourceConfig: String

    init(line: String, header: [String]) throws {
        guard !line.contains("\"") else { throw ConfigError(setting: "line", problem: "quoted fields are not supported") }
        let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard cells.count == header.count else {
            throw ConfigError(setting: "line", problem: "\(cells.count) fields, the header has \(header.count)")
        }
        func cell(_ name: String) -> String? { header.firstIndex(of: name).map { cells[$0] }.flatMap { $0.isEmpty ? nil : $0 } }
        guard let id = cell("flowpay_customer_id").flatMap(UUID.init(uuidString:)) else {
            throw ConfigError(setting: "flowpay_customer_id", problem: "'\(cell("flowpay_customer_id") ?? "")' is not a UUID")
        }
        guard let merchant = cell("merchant_id") else { throw ConfigError(setting: "merchant_id", problem: "is empty") }
        guard let source = cell("source").flatMap(Customer.Source.init(rawValue:)) else {
            throw ConfigError(setting: "source", problem: "'\(cell("source") ?? "")' is not gocardless, berlingroup or fio")
        }
        guard let reference = cell("reference") else { throw ConfigError(setting: "reference", problem: "is empty") }
        let days = cell("history_days").map { Int($0) } ?? SyncWindow.defaultHistoryDays
        guard let days, SyncWindow.historyDaysRange.contains(days) else {
            throw ConfigError(setting: "history_days", problem: "'\(cell("history_days") ?? "")' is not a number of days 90…730")
        }
        var config: [String: Any] = [:]
        if source == .berlingroup {
            guard let url = cell("bank_url"), url.hasPrefix("http") else {
                throw ConfigError(setting: "bank_url", problem: "Berlin Group customers need the bank's API base URL")
            }
            config["baseURL"] = url
            config["stableTransactionIds"] = false
        }
        flowpayID = id
        merchantID = merchant
        self.source = source
        self.reference = reference
        historyDays = days
        sourceConfig = String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
    }
}
