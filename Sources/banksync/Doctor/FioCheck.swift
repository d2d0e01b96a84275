import Store
import SyncEngine

extension Doctor {
    /// Fio: the secrets key opens every stored token. No call is made to Fio: each costs the token's 30 s, which a
    /// sync or the merchant's own accounting may need, and a refused token shows at the next sync (`consent_expired`).
    func fioCheck(_ store: Store) -> DoctorCheck {
        let tokens: [(customerID: Int64, sealed: [UInt8]?)]
        do { tokens = try store.fioSealedSecrets() } catch {
            return .failed("Fio tokens", "cannot read them: \(Self.firstLine(error))", fix: "run `banksync migrate`")
        }
        guard !tokens.isEmpty else { return .skipped("Fio tokens", "no Fio customers") }
        let vault: TokenVault?
        do { vault = try FioSettings.vault(environment, required: true) } catch {
            return .failed("Fio tokens", "\(tokens.count) Fio customer(s), \(error)",
                           fix: "set BANKSYNC_SECRETS_KEY (or _FILE) to the key their tokens were sealed with")
        }
        guard let vault else { return .skipped("Fio tokens", "no key") }
        let missing = tokens.filter { $0.sealed == nil }.count
        let unreadable = tokens.compactMap(\.sealed).filter { (try? vault.open($0)) == nil }.count
        guard missing == 0, unreadable == 0 else {
            return .failed("Fio tokens", "\(missing) Fio customer(s) without a stored token, \(unreadable) token(s) this BANKSYNC_SECRETS_KEY cannot open",
                           fix: "register the token again with banksync customers add --source fio --token-file, or set the key the tokens were sealed with")
        }
        return .passed("Fio tokens", "BANKSYNC_SECRETS_KEY opens all \(tokens.count) stored token(s); Fio itself not called (one call per token per 30 s)")
    }
}
