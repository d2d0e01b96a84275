import AsyncHTTPClient
import BankSyncCore
import Foundation
import NIOCore
import Synchronization

/// Where Fio's API is and how often one token may be used.
public struct FioConfiguration: Sendable, Equatable {
    public static let publicAPI = "https://fioapi.fio.cz/v1/rest"
    /// Fio answers a second call for one token within 30 s with 409.
    public static let documentedInterval: Duration = .seconds(30)
    /// Without the account holder's fresh authorisation Fio gives 90 days of history (older: 422).
    public static let unlockedHistoryDays = 90

    public var baseURL: String
    public var minInterval: Duration

    public init(baseURL: String = FioConfiguration.publicAPI, minInterval: Duration = FioConfiguration.documentedInterval) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.minInterval = minInterval
    }
}

/// The per-token call slot shared by every process (kept in PostgreSQL by the sync engine): `claim` answers nil
/// when this caller may call Fio now, else when the token is free; `finish` reports the call's HTTP status (0: no
/// answer) so the interval counts from its end.
public struct FioCallGate: Sendable {
    public var claim: @Sendable () async throws -> Date?
    public var finish: @Sendable (Int) async -> Void

    public init(claim: @escaping @Sendable () async throws -> Date?, finish: @escaping @Sendable (Int) async -> Void) {
        self.claim = claim
        self.finish = finish
    }
}

/// A call that must wait: the token's slot is not free yet (another worker or `serve` used it), or Fio answered
/// 409 (the call was too soon after another tool's). The customer is given back and synced later in the run;
/// nobody sleeps holding it. `historyLocked`: Fio answered 422, history older than 90 days not authorised.
public struct CallDeferred: Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable { case slotTaken, conflict, historyLocked }
    public var retryAt: Date
    public var reason: Reason

    public init(retryAt: Date, reason: Reason) {
        self.retryAt = retryAt
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .slotTaken: "Fio allows one call per token per interval; next call allowed at \(retryAt)"
        case .conflict: "Fio answered 409 (a call for this token within its interval, perhaps by another tool); tried again after \(retryAt)"
        case .historyLocked: "Fio answered 422: history older than \(FioConfiguration.unlockedHistoryDays) days needs the account holder's authorisation in Internetbanking"
        }
    }
}

/// One Fio banka account read with the merchant's read-only API token (API Bankovnictví): one `periods` call
/// answers the account, its opening and closing balances and its movements, so the first `accounts` of a sync
/// reads the first window and `transactions` hands that answer out without a second call.
///
/// Never: the `last` endpoint (its server-side cursor is shared with the merchant's other tools); a call without
/// the shared slot (`FioCallGate`); the token or any URL (the token is a path segment) in a log, an error or a
/// metric label — errors name "the Fio periods call" only, and anything a library says is scrubbed of the token.
public final class FioSource: BankDataSource, Sendable {
    struct Statement: Sendable {
        let window: SyncWindow
        let account: BankAccount
        let transactions: [BankTransaction]
        let refused: [RefusedRow]
    }

    let configuration: FioConfiguration
    private let token: String
    let http: HTTPClient
    let gate: FioCallGate
    let today: Day
    /// Days of history Fio will give now: 90, or more right after the holder authorised it (`link`).
    let historyDays: Int
    private let last = Mutex<Statement?>(nil)
    private let calls = Mutex(0)

    public init(configuration: FioConfiguration, token: String, httpClient: HTTPClient, gate: FioCallGate, today: Day,
                historyDays: Int = FioConfiguration.unlockedHistoryDays) {
        self.configuration = configuration
        self.token = token
        http = httpClient
        self.gate = gate
        self.today = today
        self.historyDays = historyDays
    }

    public var transactionIDsAreStable: Bool { true }

    /// Calls made to Fio by this source (tests, and `link`'s pieces).
    public var callsMade: Int { calls.withLock { $0 } }

    /// The stored account when earlier syncs know it (no call); otherwise the first window is read now.
    public func accounts(known: KnownAccounts) async throws(SourceError) -> SourceSnapshot {
        if known.details.count == 1, let stored = known.details.values.first, stored.currency != nil {
            return snapshot(stored)
        }
        let window = SyncWindow.next(today: today, bookedThrough: nil, historyDays: historyDays, sourceMaxHistoryDays: historyDays)
        let statement = try await read(clamped(window))
        last.withLock { $0 = statement }
        return snapshot(statement.account)
    }

    func snapshot(_ account: BankAccount) -> SourceSnapshot {
        // A token does not expire; the terms are "read" each time so a customer parked by a refused token is active
        // again once a call works.
        SourceSnapshot(accounts: [SourceAccount(account: account)], maxHistoryDays: historyDays, consentExpiresAt: nil, consentTermsRead: true)
    }

    /// The account as the last call described it (its balances at the window's edges), to store after the window.
    public func accountAfterRead(_ account: SourceAccount) -> BankAccount? {
        last.withLock { $0?.account }
    }

    /// The window's movements in pages of 500. The call is made when the first page is asked for, in the consumer's
    /// own task (the sync worker's, whose executor is the one for blocking database work: the call's slot is claimed
    /// in PostgreSQL), not in a task of its own.
    public func transactions(of account: SourceAccount, window: SyncWindow, refused: RefusedRowCollector)
        -> AsyncThrowingStream<[BankTransaction], any Error> {
        let source = self
        let cursor = PageCursor()
        return AsyncThrowingStream(unfolding: {
            if !cursor.started {
                let asked = source.clamped(window)
                let cached = source.last.withLock { (statement: inout Statement?) -> Statement? in
                    guard let statement, statement.window.from == asked.from, statement.window.to == asked.to else { return nil }
                    return statement
                }
                let statement: Statement
                if let cached { statement = cached } else { statement = try await source.read(asked) }
                source.last.withLock { $0 = statement }
                refused.add(statement.refused)
                cursor.start(statement.transactions)
            }
            return cursor.next()
        })
    }

    /// Never further back than Fio gives without a fresh authorisation (a day's margin for the bank's midnight).
    func clamped(_ window: SyncWindow) -> SyncWindow {
        let earliest = today.adding(days: -(historyDays - 1))
        guard window.from < earliest else { return window }
        return SyncWindow(from: earliest, to: max(window.to, earliest), isFirstSync: window.isFirstSync, cappedAtDays: window.cappedAtDays)
    }

    /// One `periods` call through the shared slot.
    func read(_ window: SyncWindow) async throws(SourceError) -> Statement {
        let slot: Date?
        do { slot = try await gate.claim() } catch {
            throw .unavailable("the Fio call slot could not be claimed: \(error)")
        }
        if let retryAt = slot { throw .deferred(CallDeferred(retryAt: retryAt, reason: .slotTaken)) }
        calls.withLock { $0 += 1 }
        let answer: (status: Int, body: [UInt8])
        do {
            answer = try await get(window)
        } catch {
            await gate.finish(0)
            throw scrubbed(error)
        }
        let (code, body) = answer
        await gate.finish(code)
        let later = Date().addingTimeInterval(configuration.minInterval.timeInterval)
        switch code {
        case 200..<300:
            var refused: [RefusedRow] = []
            do {
                let (account, transactions) = try FioMapping.statement(body, refused: &refused)
                return Statement(window: window, account: account, transactions: transactions, refused: refused)
            } catch {
                throw scrubbed(error)
            }
        case 409: throw .deferred(CallDeferred(retryAt: later, reason: .conflict))
        case 422: throw .deferred(CallDeferred(retryAt: later, reason: .historyLocked))
        case 500:
            // Fio's answer to a token it does not know (revoked, expired, mistyped).
            throw .consentExpired("Fio refused the API token (HTTP 500: unknown or revoked token); the merchant makes a new "
                                  + "read-only token in Internetbanking (Nastavení → API) and ops register it with "
                                  + "banksync customers add --source fio --token-file")
        default:
            throw .unavailable("the Fio periods call answered HTTP \(code)")
        }
    }

    /// The call itself; the body read whole (a small business's 90 days are small; bounded at 64 MB).
    func get(_ window: SyncWindow) async throws(SourceError) -> (Int, [UInt8]) {
        var request = HTTPClientRequest(url: "\(configuration.baseURL)/periods/\(token)/\(window.from)/\(window.to)/transactions.json")
        request.headers.add(name: "Accept", value: "application/json")
        do {
            let response = try await http.execute(request, timeout: .seconds(120))
            let body = try await response.body.collect(upTo: 64 << 20)
            return (Int(response.status.code), Array(body.readableBytesView))
        } catch {
            throw .unavailable(scrub("the Fio periods call failed: \(error)"))
        }
    }

    func scrub(_ text: String) -> String {
        token.isEmpty ? text : text.replacingOccurrences(of: token, with: "<token>")
    }

    func scrubbed(_ error: SourceError) -> SourceError {
        switch error {
        case .malformed(let account, let field, let detail): .malformed(account: account, field: field, detail: scrub(detail))
        case .unavailable(let detail): .unavailable(scrub(detail))
        case .consentExpired(let detail): .consentExpired(scrub(detail))
        default: error
        }
    }
}

/// The pages of one answer, handed out one at a time.
final class PageCursor: Sendable {
    private let state = Mutex<(rows: [BankTransaction], offset: Int, started: Bool)>(([], 0, false))
    static let pageSize = 500

    var started: Bool { state.withLock { $0.started } }

    func start(_ rows: [BankTransaction]) {
        state.withLock { $0 = (rows, 0, true) }
    }

    /// The next page; nil after the last (an empty answer has no page).
    func next() -> [BankTransaction]? {
        state.withLock { state in
            guard state.offset < state.rows.count else { return nil }
            let end = min(state.offset + Self.pageSize, state.rows.count)
            defer { state.offset = end }
            return Array(state.rows[state.offset..<end])
        }
    }
}

extension Duration {
    var timeInterval: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
