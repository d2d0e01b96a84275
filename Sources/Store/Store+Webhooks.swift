import Foundation
import Postgres

extension Store {
    /// Records a received webhook; returns its id, or nil when a verified signature was already used (a replay).
    public func recordWebhook(signature: String?, sentAt: String?, verified: Bool, failure: String?, eventType: String?, payload: String) throws -> Int64? {
        try connection.query("""
            INSERT INTO webhooks (signature, sent_at, verified, failure, event_type, payload) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (signature) WHERE verified DO NOTHING
            RETURNING id
            """, [signature, sentAt, verified, failure, eventType, payload]).first?.decode(Int64.self, at: 0)
    }

    public func recordRejectedReplay(signature: String?, sentAt: String?, eventType: String?, payload: String) throws {
        try connection.execute("""
            INSERT INTO webhooks (signature, sent_at, verified, failure, event_type, payload) VALUES ($1, $2, false, 'replay', $3, $4)
            """, [signature, sentAt, eventType, payload])
    }

    /// A verified Flowpay event about a known customer: sync it first in the next run.
    public func requestPrioritySync(flowpayCustomerID: UUID, webhookID: Int64) throws -> Bool {
        let updated = try connection.query("""
            UPDATE customers SET priority_sync_at = now() WHERE flowpay_customer_id = $1 RETURNING id
            """, [flowpayCustomerID]).first?.decode(Int64.self, at: 0)
        try connection.execute("UPDATE webhooks SET customer_id = $2, outcome = $3 WHERE id = $1",
                               [webhookID, updated, updated == nil ? "unknown customer" : "priority sync queued"])
        return updated != nil
    }

    public func setWebhookOutcome(id: Int64, _ outcome: String) throws {
        try connection.execute("UPDATE webhooks SET outcome = $2 WHERE id = $1", [id, outcome])
    }
}
