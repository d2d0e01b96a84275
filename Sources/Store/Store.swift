import Postgres

/// The PostgreSQL side of BankSync: customers, accounts, deduplicating ingest, the push outbox, runs and
/// the lag report. Every statement is parameterised and lives next to the function that uses it.
///
/// A `Store` wraps one connection and must be used from one task at a time.
public struct Store: Sendable {
    public let connection: PostgresConnection

    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    public static func connect(_ connectionString: String) throws -> Store {
        Store(connection: try PostgresConnection.connect(connectionString))
    }
}
