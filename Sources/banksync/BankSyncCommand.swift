import ArgumentParser

@main
struct BankSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "banksync",
        abstract: "Open-banking data sync worker: pulls bank data from aggregators, deduplicates it in PostgreSQL and pushes what is new to Flowpay.",
        discussion: "Settings come from the environment (see README.md); secrets are never taken as arguments.",
        subcommands: [MigrateCommand.self, SyncCommand.self, CustomersCommand.self, LagCommand.self, ServeCommand.self, LinkCommand.self, APIKeyCommand.self, PushCommand.self, PruneCommand.self, SandboxCommand.self]
    )
}
