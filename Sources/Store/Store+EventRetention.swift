import Postgres

extension Store {
    /// Deletes `sync_events` older than `days`, walking the table by id in batches of `batchSize` rows, each its
    /// own short statement. Kept whatever their age, because `lag` and `lag --interruptions` read them: each
    /// customer's latest `synced` event and every event since it (a running interruption's since-when), and the
    /// `consent_expired` events of customers whose consent is still expired. Events of no customer (none are
    /// written any more; older builds wrote one per bad consent callback) go at the same age as the rest.
    /// Returns how many were deleted.
    public func pruneEvents(olderThanDays days: Int, batchSize: Int = 10_000) throws -> Int {
        var total = 0
        var after: Int64 = 0
        while true {
            // Ids grow with time: a batch whose events are all within the retention ends the walk.
            let row = try connection.query("""
                WITH batch AS (
                    SELECT e.id, e.customer_id, e.code, e.at FROM sync_events e WHERE e.id > $1 ORDER BY e.id LIMIT $3
                ), doomed AS (
                    SELECT b.id FROM batch b
                    WHERE b.at < now() - make_interval(days => $2::int)
                      AND (b.customer_id IS NULL
                           OR (EXISTS (SELECT 1 FROM sync_events s
                                       WHERE s.customer_id = b.customer_id AND s.code = 'synced' AND s.at > b.at)
                               AND NOT (b.code = 'consent_expired'
                                        AND EXISTS (SELECT 1 FROM customers c WHERE c.id = b.customer_id AND c.status = 'consent_expired'))))
                ), deleted AS (
                    DELETE FROM sync_events d USING doomed WHERE d.id = doomed.id RETURNING d.id
                )
                SELECT (SELECT count(*) FROM deleted), (SELECT max(id) FROM batch),
                       COALESCE((SELECT bool_and(at >= now() - make_interval(days => $2::int)) FROM batch), true)
                """, [after, days, batchSize], planning: .perExecution)
            guard let row = row.first else { return total }
            total += try row.decode(Int.self, at: 0)
            guard let last = try row.decode(Int64?.self, at: 1), !(try row.decode(Bool.self, at: 2)) else { return total }
            after = last
        }
    }
}
