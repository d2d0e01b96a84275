import Postgres

/// The PostgreSQL side of BankSync: customers, accounts, deduplicating ingest, the push outbox, runs and
/// the lag report. Every statement is parameterised and lives next to the function that uses it.
///
/// A `Store` wraps one connection and must be used from one task at a time.
public struct Store: Sendable {
    public let connection: PostgresConnection
    /// Rows an ingest keys and probes per round trip on an account that has rows stored: bounds its memory
    /// (one chunk of fetched rows) and its probe's size. Tests make it tiny to cross chunk edges often.
    public let ingestChunkSize: Int

    public init(connection: PostgresConnection, ingestChunkSize: Int = 1_000) {
        precondition(ingestChunkSize > 0, "an ingest chunk holds at least one row")
        self.connection = connection
        self.ingestChunkSize = ingestChunkSize
    }

    /// A session for BankSync's short statements: JIT compilation off (the dedup probe's estimated cost sits
    /// near the JIT threshold, where compiling costs more than the probe; measured for issue 14).
    public static func connect(_ connectionString: String) throws -> Store {
        let connection = try PostgresConnection.connect(connectionString)
        try connection.execute("SET jit = off")
        return Store(connection: connection)
    }
}

extension Store {
    /// A `bigint[]` parameter's text (`{1,2,3}`): integers only, never outside text.
    static func bigintArray(_ ids: [Int64]) -> String {
        "{" + ids.map(String.init).joined(separator: ",") + "}"
    }
}

/// `try #require`-like unwrap for statement results that always return a row.
func require<T>(_ value: T?, _ statement: String) throws -> T {
    guard let value else { throw PostgresError.noRows(statement: statement) }
    return value
}
