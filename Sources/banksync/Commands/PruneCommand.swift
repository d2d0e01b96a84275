import ArgumentParser
import BankSyncCore
import Foundation
import Store

struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete transactions booked before each customer's history window plus the overlap (never unpushed ones), and old sync events.",
        discussion: "Example: banksync prune --overlap-days 7 --batch-size 10000 --event-days 90")

    @Option(help: "Days re-read before the watermark on every sync; rows within history + overlap are kept.")
    var overlapDays = SyncWindow.defaultOverlapDays

    @Option(help: "Rows deleted per transaction.")
    var batchSize = 10_000

    @Option(help: "Days of sync events kept; each customer's latest sync and every event since it are kept whatever their age (lag needs them).")
    var eventDays = 90

    func run() async throws {
        try await reportingErrors {
            guard overlapDays >= 0 else { throw ConfigError(setting: "--overlap-days", problem: "must be 0 or more") }
            guard batchSize > 0 else { throw ConfigError(setting: "--batch-size", problem: "must be positive") }
            guard eventDays > 0 else { throw ConfigError(setting: "--event-days", problem: "must be positive") }
            let store = try Store.connect(try DatabaseSettings.load().connectionString)
            defer { store.connection.close() }
            try store.requireSchemaOfThisBuild()
            let deleted = try store.prune(today: try ClockSettings.load().today,
                                          overlapDays: overlapDays, batchSize: batchSize)
            print("pruned \(deleted) transactions")
            print("pruned \(try store.pruneEvents(olderThanDays: eventDays, batchSize: batchSize)) sync events")
        }
    }
}
