import Testing
import TestSupport

/// The executable's contract with cron and operators: one clear line and exit 2 for a bad setting.
@Suite struct ConfigurationTests {
    @Test func missingDatabaseURLExitsTwoNamingTheSetting() async throws {
        let outcome = try await BankSyncProcess.run(["migrate"], environment: [:])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.hasPrefix("banksync: DATABASE_URL"))
        #expect(outcome.stderr.split(separator: "\n").count == 1)
    }

    @Test func malformedDatabaseURLExitsTwoWithoutThePassword() async throws {
        let outcome = try await BankSyncProcess.run(["migrate"], environment: ["DATABASE_URL": "postgres://u:Hunter2Secret@host:notaport/db"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("DATABASE_URL"))
        #expect(!outcome.stderr.contains("Hunter2Secret"))
    }

    @Test func unreachableDatabaseExitsThree() async throws {
        let outcome = try await BankSyncProcess.run(["migrate"], environment: ["DATABASE_URL": "postgres://u:Hunter2Secret@127.0.0.1:1/db?connect_timeout=2"])
        #expect(outcome.status == 3)
        #expect(outcome.stderr.contains("cannot reach the database"))
        #expect(!outcome.stderr.contains("Hunter2Secret"))
    }

    @Test func anImpossibleFixedTodayIsAConfigurationError() async throws {
        let outcome = try await BankSyncProcess.run(["sync"], environment: ["BANKSYNC_TODAY": "2027-02-29",
                                                                            "DATABASE_URL": "host=127.0.0.1 port=1 dbname=x connect_timeout=2"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("BANKSYNC_TODAY"))
    }

    @Test func helpSaysWhatBankSyncDoesAndEachCommandHasAnExample() async throws {
        let help = try await BankSyncProcess.run(["--help"], environment: [:])
        #expect(help.stdout.contains("First commands, in order: `banksync migrate`"))
        for command in ["migrate", "sync", "customers", "lag", "serve", "link", "api-key", "push", "prune", "sandbox"] {
            let sub = try await BankSyncProcess.run([command, "--help"], environment: [:])
            #expect(sub.stdout.contains("Example:"), "\(command) --help has an example")
        }
    }
}
