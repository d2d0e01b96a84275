import ArgumentParser
import Foundation
import Postgres
import Aggregators
import Store

/// Exit codes every subcommand shares.
enum ExitStatus {
    static let partialFailure: Int32 = 1
    static let configuration: Int32 = 2
    static let cannotRun: Int32 = 3
}

/// Runs a command body and turns its errors into one clear line on stderr and the documented exit code.
/// Command bodies make blocking libpq calls, so they run on a blocking-I/O executor.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await withBlockingIOExecutor("banksync.command", body)
    } catch let error as ConfigError {
        fail(error.description, code: ExitStatus.configuration)
    } catch let error as SourceError {
        fail("bank data source: \(error)", code: ExitStatus.partialFailure)
    } catch let error as MigrationError {
        fail(error.description, code: ExitStatus.cannotRun)
    } catch let error as PostgresError {
        if case .connect(.invalidConnectionString, let message) = error {
            fail("DATABASE_URL: is not usable (\(message))", code: ExitStatus.configuration)
        }
        if case .connect = error {
            fail("cannot reach the database (DATABASE_URL): \(error)", code: ExitStatus.cannotRun)
        }
        fail("database error: \(error)", code: ExitStatus.cannotRun)
    }
}

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data(("banksync: " + message + "\n").utf8))
    exit(code)
}
