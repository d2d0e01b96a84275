import Foundation
import Postgres
import Store

/// Where the database is and where the migrations live.
struct DatabaseSettings {
    let connectionString: String
    let migrationsDirectory: URL

    static func load(_ environment: Environment = Environment()) throws -> DatabaseSettings {
        guard let url = environment.value("DATABASE_URL") else {
            throw ConfigError.missing("DATABASE_URL", "set it to a libpq conninfo string or a postgres:// URI")
        }
        do {
            _ = try ConnectionString.parse(url)
        } catch let error as PostgresError {
            if case .connect(_, let message) = error {
                throw ConfigError(setting: "DATABASE_URL", problem: "is not a valid conninfo string or postgres:// URI (\(message))")
            }
            throw error
        }
        return DatabaseSettings(connectionString: url, migrationsDirectory: try locateMigrations(environment))
    }

    /// `BANKSYNC_SQL_DIR`, else `./sql`, else `sql/` beside or above the executable (a checkout's
    /// `.build/<config>/banksync`), else `share/banksync/sql` of an installed prefix.
    static func locateMigrations(_ environment: Environment) throws -> URL {
        if let explicit = environment.value("BANKSYNC_SQL_DIR") {
            guard FileManager.default.fileExists(atPath: explicit) else {
                throw ConfigError(setting: "BANKSYNC_SQL_DIR", problem: "\(explicit) does not exist")
            }
            return URL(fileURLWithPath: explicit)
        }
        if let found = Migration.defaultDirectory() { return found }
        throw ConfigError(setting: "BANKSYNC_SQL_DIR", problem: "is not set and no sql/ folder with migrations was found near the executable")
    }
}
