import ArgumentParser
import Postgres

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check, before a run, that the configuration, database, Flowpay, aggregators and bank certificates work.",
        discussion: """
            In order: configuration complete; database reachable and migrations current; a Flowpay token obtainable and \
            the API answering; GoCardless secrets accepted; each Berlin Group bank's client certificate readable (warns \
            under 30 days to expiry) and the bank answering; BANKSYNC_PUBLIC_URL set when consent links are used. Each \
            check prints ✓ (passed), ! (warning), ✗ (failed, with a fix) or - (not needed). Exits 0 only when every \
            needed check passed. Reads no account data and writes nothing; secrets are never printed. Example: banksync doctor
            """)

    func run() async throws {
        let healthy = await withBlockingIOExecutor("banksync.doctor") {
            await Doctor(environment: Environment()).run { print($0.line) }
        }
        if !healthy { throw ExitCode(ExitStatus.partialFailure) }
    }
}
