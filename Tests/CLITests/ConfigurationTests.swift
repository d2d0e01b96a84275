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

    /// The ops console never shares the public (or metrics) listener, and its settings are checked before anything starts.
    @Test func theConsoleRefusesThePublicListenerAndBadSettings() async throws {
        let database = "host=127.0.0.1 port=1 dbname=x connect_timeout=2"
        let same = try await BankSyncProcess.run(["serve"], environment: ["DATABASE_URL": database, "BANKSYNC_LISTEN": "127.0.0.1:18080",
                                                                          "BANKSYNC_CONSOLE_LISTEN": "127.0.0.1:18080"])
        #expect(same.status == 2 && same.stderr.contains("BANKSYNC_CONSOLE_LISTEN") && same.stderr.contains("BANKSYNC_LISTEN"))
        let wildcard = try await BankSyncProcess.run(["serve"], environment: ["DATABASE_URL": database, "BANKSYNC_METRICS_LISTEN": "127.0.0.1:19464",
                                                                              "BANKSYNC_CONSOLE_LISTEN": "0.0.0.0:19464"])
        #expect(wildcard.status == 2 && wildcard.stderr.contains("BANKSYNC_METRICS_LISTEN"))
        let mode = try await BankSyncProcess.run(["serve"], environment: ["DATABASE_URL": database, "BANKSYNC_CONSOLE_LISTEN": "127.0.0.1:18081",
                                                                          "BANKSYNC_CONSOLE_MODE": "admin"])
        #expect(mode.status == 2 && mode.stderr.contains("BANKSYNC_CONSOLE_MODE"))
        let key = try await BankSyncProcess.run(["serve"], environment: ["DATABASE_URL": database, "BANKSYNC_CONSOLE_LISTEN": "127.0.0.1:18081",
                                                                         "BANKSYNC_CONSOLE_KEY": "short-Hunter2"])
        #expect(key.status == 2 && key.stderr.contains("BANKSYNC_CONSOLE_KEY") && !key.stderr.contains("Hunter2"))
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
