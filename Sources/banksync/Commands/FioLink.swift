import Aggregators
import BankSyncCore
import Foundation
import Logging
import Store
import SyncEngine

/// `banksync link --source fio`: guides the merchant through Fio's strong authorisation of history older than 90
/// days, waits for their confirmation, and reads that history inside the authorisation's 10 minutes.
struct FioLink {
    let customerID: UUID
    let historyDays: Int
    let pieceDays: Int
    let environment: Environment

    /// Fio's authorisation of older history lasts this long.
    static let validity: TimeInterval = 600

    func run() async throws {
        guard (30...730).contains(pieceDays) else { throw ConfigError(setting: "--piece-days", problem: "must be 30…730") }
        let database = try DatabaseSettings.load(environment)
        let vault = try FioSettings.vault(environment, required: true)
        let store = try Store.connect(database.connectionString)
        defer { store.connection.close() }
        try store.requireSchemaOfThisBuild()
        guard let record = try store.customer(flowpayCustomerID: customerID), record.customer.source == .fio else {
            throw ConfigError(setting: "--customer", problem: "no Fio customer \(customerID.uuidString.lowercased()); register it first: banksync customers add --source fio --token-file F")
        }
        let account = try store.storedAccountDetails(customerID: record.customer.id).values.first
        let label = account?.iban ?? account?.sourceAccountID ?? "the account whose API token was registered"
        print(Self.instructions(account: label, days: historyDays))
        print("Press Enter once the merchant has authorised it (Stiskněte Enter, jakmile obchodník autorizaci potvrdí) …")
        guard readLine(strippingNewline: true) != nil else {
            throw ConfigError(setting: "standard input", problem: "closed before the merchant's confirmation; nothing was read")
        }
        let confirmedAt = Date()
        let today = try ClockSettings.load(environment).today
        let sources = SourceFactory(goCardless: nil, fio: try FioSettings.load(environment), vault: vault)
        let (runID, _) = try store.startRun(worker: "link:\(ProcessInfo.processInfo.processIdentifier)")
        let sync = CustomerSync(store: store, sources: sources, flowpay: nil, overlapDays: SyncWindow.defaultOverlapDays, today: today,
                                logger: Logger(label: "banksync.link"))
        do {
            let result = try await sync.fioDeepBackfill(record, days: historyDays, pieceDays: pieceDays, runID: runID) { piece in
                let left = Int(Self.validity - Date().timeIntervalSince(confirmedAt))
                print("reading \(piece) (authorisation valid about \(max(0, left)) s more)")
            }
            try store.finishRun(id: runID, status: "succeeded", counts: #"{"customers":1,"new":\#(result.newBooked)}"#, error: nil)
            print("read \(historyDays) days of history in \(result.calls) call(s): \(result.newBooked) new bookings, \(result.duplicates) already stored; "
                  + "they go to Flowpay with the next banksync sync")
            await sources.shutdown()
        } catch SourceError.deferred(let deferral) {
            try? store.finishRun(id: runID, status: "failed", counts: "{}", error: "history_short")
            try? store.recordEvent(customerID: record.customer.id, runID: runID, level: .warning, code: "history_short",
                                   message: "\(deferral); run banksync link --source fio again once the merchant has authorised it")
            await sources.shutdown()
            fail("Fio did not give the history (history_short): \(deferral). Ask the merchant to authorise it again, then run this command again.",
                 code: ExitStatus.partialFailure)
        } catch {
            try? store.finishRun(id: runID, status: "failed", counts: "{}", error: "\(error)")
            await sources.shutdown()
            throw error
        }
    }

    static func instructions(account: String, days: Int) -> String {
        """
        Fio banka: history older than 90 days needs the account holder's strong authorisation.

        [cs] Pro načtení historie účtu \(account) za \(days) dní (starší než 90 dní) je nutná silná autorizace:
             1. Přihlaste se do Internetbankingu Fio (ib.fio.cz).
             2. Otevřete Nastavení → API a u tokenu, který jste pro BankSync vytvořili (jen pro čtení), zvolte
                „Povolit stažení historie“ / „Autorizovat“ a potvrďte autorizaci (SMS nebo Smartbanking).
             3. Autorizace platí 10 minut. Potvrďte nám ji hned po dokončení.

        [en] To read \(days) days of history of account \(account) (beyond 90 days), Fio needs a strong authorisation:
             1. Log in to Fio Internetbanking (ib.fio.cz).
             2. Open Settings (Nastavení) → API and, at the read-only token created for BankSync, choose to allow the
                history download / authorise, and confirm it (SMS or Smartbanking).
             3. The authorisation is valid for 10 minutes. Confirm to us as soon as it is done.
        """
    }
}
