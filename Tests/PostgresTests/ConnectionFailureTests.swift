import Postgres
import Testing
import TestSupport

@Suite struct ConnectionFailureTests {
    @Test func unreachableServerIsNamedAndThePasswordNeverShows() {
        do {
            _ = try PostgresConnection.connect("postgres://banksync:S3cr3tPassw0rd@127.0.0.1:1/banksync?connect_timeout=2")
            Issue.record("connected to nothing")
        } catch let PostgresError.connect(failure, message) {
            #expect(failure == .unreachable)
            #expect(!message.contains("S3cr3tPassw0rd"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func malformedConnectionStringIsRejectedWithoutThePassword() {
        do {
            _ = try PostgresConnection.connect("postgres://banksync:S3cr3t%zz@host/db")
            Issue.record("accepted a malformed URI")
        } catch let PostgresError.connect(failure, message) {
            #expect(failure == .invalidConnectionString)
            #expect(!message.contains("S3cr3t"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
        #expect(throws: PostgresError.self) { _ = try ConnectionString.parse("host=x nonsense_option=1") }
    }

    @Test func missingDatabaseIsNamed() async throws {
        let url = TestDatabase.serverURL + " dbname=no_such_database_here"
        do {
            _ = try PostgresConnection.connect(url)
            Issue.record("connected to a database that does not exist")
        } catch let PostgresError.connect(failure, message) {
            #expect(failure == .missingDatabase)
            #expect(message.contains("no_such_database_here"))
        }
    }

    @Test func unknownRoleIsAnAuthenticationFailure() async throws {
        let url = TestDatabase.serverURL + " user=nobody_at_all"
        do {
            _ = try PostgresConnection.connect(url)
            Issue.record("connected as an unknown role")
        } catch let PostgresError.connect(failure, _) {
            #expect(failure == .authentication)
        }
    }
}
