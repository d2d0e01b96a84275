import Foundation
import Postgres

/// Fio's 30-second rule kept across processes (migration 0023): before each call a worker claims the token's
/// slot — one atomic statement that succeeds only when the slot's time has come and moves it `interval` on — so
/// concurrent `sync` workers and `serve`'s priority syncs never call Fio twice for one token within the interval.
extension Store {
    /// Claims the next call for `tokenKey` (a fingerprint, never the token). Returns nil when this caller may call
    /// now; otherwise the instant the slot frees up (do something else until then).
    public func claimFioCall(tokenKey: String, interval: Duration) throws -> Date? {
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        let claimed = try connection.query("""
            INSERT INTO fio_call_slots AS s (token_key, next_allowed_at, last_call_at)
            VALUES ($1, now() + make_interval(secs => $2), now())
            ON CONFLICT (token_key) DO UPDATE SET next_allowed_at = now() + make_interval(secs => $2), last_call_at = now()
            WHERE s.next_allowed_at <= now()
            RETURNING 1
            """, [tokenKey, seconds], planning: .perExecution)
        if claimed.rowCount == 1 { return nil }
        return try connection.query("SELECT next_allowed_at FROM fio_call_slots WHERE token_key = $1", [tokenKey]).first
            .map { try $0.decode(Date.self, at: 0) } ?? Date()
    }

    /// The claimed call has ended (answered `status`, or 0 when no answer came): the interval counts from now, not
    /// from the claim, since Fio timed the call when it arrived, somewhere between the two. A 409 moves it too.
    public func finishFioCall(tokenKey: String, interval: Duration, status: Int) throws {
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        try connection.execute("""
            UPDATE fio_call_slots SET next_allowed_at = GREATEST(next_allowed_at, now() + make_interval(secs => $2)), last_status = $3
            WHERE token_key = $1
            """, [tokenKey, seconds, Int64(status)])
    }

    /// A claimed customer whose sync must wait (its token's next call is not allowed yet): the claim is given back
    /// without counting as a sync, so it stays due and is claimed again later in the run (by any worker).
    public func releaseDeferred(_ claim: Claim) throws {
        try connection.execute("UPDATE customers SET lease_until = NULL, lease_pid = NULL WHERE id = $1", [claim.customerID])
        try unlockCustomer(claim.customerID)
    }
}
