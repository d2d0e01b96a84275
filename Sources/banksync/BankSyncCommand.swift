import ArgumentParser

@main
struct BankSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "banksync",
        abstract: "Open-banking data sync worker: pulls bank data from aggregators, deduplicates it in PostgreSQL and pushes what is new to Flowpay.",
        discussion: """
            BankSync keeps a lender's view of its customers' bank data complete, fresh and duplicate-free: on a \
            schedule it reads each customer's accounts and booked transactions from GoCardless or a Berlin Group \
            bank, stores every transaction once in PostgreSQL, and sends Flowpay only what is new, crash-safe.

            First commands, in order: `banksync migrate` (the schema), `banksync customers add …` or \
            `banksync link …` (a customer and its bank consent), `banksync sync` (one run; schedule it daily), \
            `banksync lag` (how fresh everything is, and why not). `banksync serve` answers Flowpay's PULL feeds, \
            webhooks and the banks' consent redirects.

            Settings come from the environment (see README.md); secrets are never taken as arguments.
            """,
        version: BuildInfo.description,
        subcommands: [MigrateCommand.self, DoctorCommand.self, SyncCommand.self, CustomersCommand.self, LagCommand.self, ServeCommand.self, LinkCommand.self, APIKeyCommand.self, PushCommand.self, UnreadableCommand.self, HeldCommand.self, ReconciliationCommand.self, PruneCommand.self, SandboxCommand.self, SecretsCommand.self]
    )
}
