import ArgumentParser
import Postgres
import Store

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending schema migrations from sql/ (safe to run concurrently).",
        discussion: "Example: DATABASE_URL=postgres://banksync@db/banksync banksync migrate --status")

    @Flag(help: "Only print the schema version and pending migrations; change nothing.")
    var status = false

    func run() async throws {
        try await reportingErrors {
            let settings = try DatabaseSettings.load()
            let migrator = Migrator(migrations: try Migration.load(from: settings.migrationsDirectory))
            let connection = try PostgresConnection.connect(settings.connectionString)
            defer { connection.close() }
            if status {
                let (version, pending) = try migrator.status(connection)
                for note in try migrator.earlierEditNotes(connection) { print("note: " + note) }
                print("schema version \(version); pending: \(pending.isEmpty ? "none" : pending.joined(separator: ", "))")
                return
            }
            let report = try await migrator.migrate(connection)
            for note in report.notes { print("note: " + note) }
            if report.applied.isEmpty {
                print("schema is up to date at version \(report.version)")
            } else {
                print("applied \(report.applied.joined(separator: ", ")); schema at version \(report.version)")
            }
        }
    }
}
