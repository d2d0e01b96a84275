import BankSyncCore
import Foundation

/// One customer's bank data at one aggregator (a GoCardless requisition, a Berlin Group consent).
///
/// Connectors map everything into BankSyncCore types and fail with `SourceError`; they never write to the
/// database and never hold a whole history in memory (transactions come as pages).
public protocol BankDataSource: Sendable {
    /// Whether this source's transaction ids identify a booked transaction for good (dedup by id).
    var transactionIDsAreStable: Bool { get }

    /// Whether a customer's accounts may be read at the same time (their transaction windows fetched side by
    /// side). False for a source whose limits count calls per consent or token (Fio's one call per 30 s, a
    /// Berlin Group consent's reads a day) — there one account's read waits for the other's.
    var readsAccountsConcurrently: Bool { get }

    /// The customer's accounts with details and current balances, plus what the consent allows. `known` is what
    /// earlier syncs stored: a source may reuse it instead of spending rate-limited calls on what rarely changes.
    func accounts(known: KnownAccounts) async throws(SourceError) -> SourceSnapshot

    /// An account's transactions (booked and pending) for whole booking days `window`, page by page. Rows
    /// the mapping cannot read go to `refused` instead; the rest of the page is yielded.
    func transactions(of account: SourceAccount, window: SyncWindow, refused: RefusedRowCollector)
        -> AsyncThrowingStream<[BankTransaction], any Error>

    /// The account as the source described it while answering `transactions` (Fio's one call answers both: the
    /// balances at the window's edges), stored after the window; nil for sources whose `accounts` said it all.
    func accountAfterRead(_ account: SourceAccount) -> BankAccount?
}

extension BankDataSource {
    public func accountAfterRead(_: SourceAccount) -> BankAccount? { nil }

    public var readsAccountsConcurrently: Bool { false }

    /// Everything read afresh (a first sync, a consent just linked).
    public func accounts() async throws(SourceError) -> SourceSnapshot {
        try await accounts(known: KnownAccounts())
    }

    /// The pages, with refused rows set aside and not kept.
    public func transactions(of account: SourceAccount, window: SyncWindow) -> AsyncThrowingStream<[BankTransaction], any Error> {
        transactions(of: account, window: window, refused: RefusedRowCollector())
    }
}

/// What earlier syncs stored about a customer's consent and accounts, so a daily run need not ask again.
public struct KnownAccounts: Sendable {
    /// Stored details (IBAN, currency, name, product, owner) by the source's account id; no balances.
    public var details: [String: BankAccount]
    /// Whether the consent's terms (expiry, history allowed) are stored: they do not change for a consent.
    public var consentTermsKnown: Bool
    /// The history the stored terms allow when fewer days than asked (the consent's cap), used when the terms
    /// are not read again.
    public var historyCap: Int?
    /// Today, for spreading the periodic details refresh over the days.
    public var today: Day?

    public init(details: [String: BankAccount] = [:], consentTermsKnown: Bool = false, historyCap: Int? = nil, today: Day? = nil) {
        self.details = details
        self.consentTermsKnown = consentTermsKnown
        self.historyCap = historyCap
        self.today = today
    }

    /// Stored details are read again every this many days (spread by account), besides when a balance's
    /// currency shows they changed.
    public static let detailsRefreshDays = 30

    /// The stored details of `id` when they can stand for a fresh read today.
    public func reusableDetails(of id: String) -> BankAccount? {
        guard let stored = details[id], stored.currency != nil else { return nil }
        if let today, Int(stableHash(id) % UInt64(Self.detailsRefreshDays)) == today.daysSinceEpoch % Self.detailsRefreshDays { return nil }
        return stored
    }
}

/// FNV-1a: a hash that is the same in every process (Swift's `Hasher` is seeded per process).
func stableHash(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return hash
}

/// What a source says about the consent and its accounts.
public struct SourceSnapshot: Sendable {
    public var accounts: [SourceAccount]
    /// Days of history the source allows (caps the first sync), when it says.
    public var maxHistoryDays: Int?
    public var consentExpiresAt: Date?
    /// False when the consent's terms were not read again (known from before): keep what is stored.
    public var consentTermsRead: Bool

    public init(accounts: [SourceAccount], maxHistoryDays: Int? = nil, consentExpiresAt: Date? = nil, consentTermsRead: Bool = true) {
        self.accounts = accounts
        self.maxHistoryDays = maxHistoryDays
        self.consentExpiresAt = consentExpiresAt
        self.consentTermsRead = consentTermsRead
    }
}

public struct SourceAccount: Sendable, Equatable {
    public var account: BankAccount
    /// Set when the account cannot be read in this run (e.g. out of its daily request budget): skip it.
    public var skipReason: SourceError?
    /// Parts of the account the source refused this run (its balances, its details): the account is read
    /// without them, and each is recorded with its reason.
    public var missing: [MissingPart]

    public init(account: BankAccount, skipReason: SourceError? = nil, missing: [MissingPart] = []) {
        self.account = account
        self.skipReason = skipReason
        self.missing = missing
    }

    /// One part of an account not read, and why.
    public struct MissingPart: Sendable, Equatable {
        /// What was not read: `balances`, `details`.
        public var part: String
        public var reason: SourceError

        public init(part: String, reason: SourceError) {
            self.part = part
            self.reason = reason
        }
    }
}

/// Why a source could not deliver, with what ops need to act.
public enum SourceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The customer must reconnect: consent expired, revoked, rejected or terminated (the source says so), or
    /// the account suspended.
    case consentExpired(String)
    /// The customer has not finished authorising the consent at the bank yet (Berlin Group `received`,
    /// GoCardless `CR`/`UA`…): nothing to read yet, nothing to reconnect either.
    case consentPending(String)
    /// Out of request budget; `retryAt` when the source says.
    case rateLimited(account: String?, retryAt: Date?, detail: String)
    /// The aggregator or the bank is down or erroring; try again later.
    case unavailable(String)
    /// The data could not be understood; names the account and the field.
    case malformed(account: String?, field: String, detail: String)
    /// Our own credentials were refused (secret id/key, certificate).
    case unauthorised(String)
    /// The customer's consent does not let us read this account, or this part of it (GoCardless's 403s by their
    /// `type`): not our credentials; the next step depends on `refusal`.
    case accountRefused(account: String?, AccountRefusal, detail: String)
    /// Not now: the source may not be called yet (Fio's one call per token per interval, its 409, or its 422 for
    /// history not authorised). Nothing was read; the sync engine gives the customer back and tries again later.
    case deferred(CallDeferred)

    public var description: String {
        switch self {
        case .consentExpired(let detail): "consent expired or revoked: \(detail)"
        case .consentPending(let detail): "consent not authorised yet: \(detail)"
        case .rateLimited(let account, let retryAt, let detail):
            "rate limited\(account.map { " (account \($0))" } ?? "")\(retryAt.map { " until \($0)" } ?? ""): \(detail)"
        case .unavailable(let detail): "source unavailable: \(detail)"
        case .malformed(let account, let field, let detail):
            "malformed data\(account.map { " for account \($0)" } ?? "") in \(field): \(detail)"
        case .unauthorised(let detail): "credentials refused by the source: \(detail)"
        case .accountRefused(let account, let refusal, let detail):
            "\(refusal.summary)\(account.map { " (account \($0))" } ?? ""): \(detail)"
        case .deferred(let deferral): deferral.description
        }
    }

    /// The interruption category the lag report groups by.
    public var code: String {
        switch self {
        case .consentExpired: "consent_expired"
        case .consentPending: "consent_pending"
        case .rateLimited: "rate_limited"
        case .unavailable: "bank_unavailable"
        case .malformed: "malformed_data"
        case .unauthorised: "source_unauthorised"
        case .accountRefused(_, let refusal, _): refusal.rawValue
        case .deferred(let deferral): deferral.reason == .historyLocked ? "history_short" : "rate_limited"
        }
    }
}

/// Why a consent does not reach an account or part of it; the raw value is the interruption code.
public enum AccountRefusal: String, Sendable, Equatable, CaseIterable {
    /// `AccountEUAScopeError`: the end-user agreement's access scope leaves this resource out: a new agreement.
    case agreementScope = "agreement_scope"
    /// `AccountValidEUAError`: no valid end-user agreement covers the account: a new agreement.
    case agreementInvalid = "agreement_invalid"
    /// `AccountAccessForbidden`: the bank refuses the customer's access to this account: the customer re-links.
    case accessForbidden = "account_forbidden"
    /// `AccountResourceUnavailable`: the account does not offer this resource (a card account without balances).
    case resourceUnavailable = "resource_unavailable"

    /// The refusal GoCardless's error `type` names, if it is one of these.
    public init?(goCardlessType type: String?) {
        switch type {
        case "AccountEUAScopeError": self = .agreementScope
        case "AccountValidEUAError": self = .agreementInvalid
        case "AccountAccessForbidden": self = .accessForbidden
        case "AccountResourceUnavailable": self = .resourceUnavailable
        default: return nil
        }
    }

    var summary: String {
        switch self {
        case .agreementScope: "the end-user agreement does not cover this resource"
        case .agreementInvalid: "no valid end-user agreement covers the account"
        case .accessForbidden: "the bank forbids access to the account"
        case .resourceUnavailable: "the account does not offer this resource"
        }
    }
}
