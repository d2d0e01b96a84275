import BankSyncCore
import Foundation
import Postgres

extension Store {
    /// Days `[from, to]` of an account's history that no read covered and none will (the window after a long
    /// consent lapse started later, clamped by the history the source or the customer allows): added to the
    /// account's total and kept as its latest gap (migration 0022). Called once the window's rows are committed,
    /// so a window that failed records nothing and is looked at again next run.
    public func noteHistoryGap(accountID: Int64, from: Day, to: Day) throws {
        guard from <= to else { return }
        try connection.execute("""
            UPDATE watermarks SET gap_days = COALESCE(gap_days, 0) + $2, last_gap_from = $3, last_gap_to = $4, last_gap_at = now()
            WHERE account_id = $1
            """, [accountID, Int64(to - from + 1), from, to])
    }

    /// Booked rows stored for days `[from, through]` of an account (the `transactions_account_booked` index).
    public func storedBookings(accountID: Int64, from: Day, through: Day) throws -> Int {
        try connection.queryValue(Int.self, """
            SELECT count(*) FROM transactions WHERE account_id = $1 AND status = 'booked' AND booking_date BETWEEN $2 AND $3
            """, [accountID, from, through])
    }
}
