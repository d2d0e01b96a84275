import Foundation
import Postgres

/// A bank link sent to a customer, waiting for its redirect back.
public struct ConsentLink: Sendable, Equatable {
    public let id: Int64
    public let flowpayCustomerID: UUID
    public let merchantID: String
    public let source: Customer.Source
    public let sourceRef: String
    public let sourceConfig: String
    public let historyDays: Int
    public let expired: Bool
    public let used: Bool
}

extension Store {
    /// Records a link; returns its one-time state value (random, 32 bytes, hex).
    public func createConsentLink(flowpayCustomerID: UUID, merchantID: String, source: Customer.Source, sourceRef: String,
                                  sourceConfig: String = "{}", historyDays: Int, validFor: Duration = .seconds(7 * 86_400), state: String,
                                  link: String? = nil) throws {
        // `link`: the bank link the customer is sent, shown by the ops console (Consents) until it is used or expires.
        try connection.execute("""
            INSERT INTO consent_links (state, flowpay_customer_id, merchant_id, source, source_ref, source_config, history_days, expires_at, link)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, now() + make_interval(secs => $8), $9)
            """, [state, flowpayCustomerID, merchantID, source.rawValue, sourceRef, JSONText(sourceConfig), historyDays,
                  Double(validFor.components.seconds), link])
    }

    /// Ends every open link of the customer (not used, not expired): their callbacks answer "expired" from now on.
    /// Returns how many there were.
    @discardableResult
    public func supersedeConsentLinks(flowpayCustomerID: UUID) throws -> Int {
        try connection.execute("""
            UPDATE consent_links SET expires_at = now(), outcome = 'superseded'
            WHERE flowpay_customer_id = $1 AND used_at IS NULL AND expires_at > now()
            """, [flowpayCustomerID])
    }

    /// The customer's newest open link (not used, not expired): its source reference and expiry.
    public func openConsentLink(flowpayCustomerID: UUID) throws -> (sourceRef: String, expiresAt: Date)? {
        try connection.query("""
            SELECT source_ref, expires_at FROM consent_links
            WHERE flowpay_customer_id = $1 AND used_at IS NULL AND expires_at > now() ORDER BY id DESC LIMIT 1
            """, [flowpayCustomerID]).first.map { (try $0.decode(at: 0), try $0.decode(at: 1)) }
    }

    public static func newLinkState() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    public func consentLink(state: String) throws -> ConsentLink? {
        try connection.query("""
            SELECT id, flowpay_customer_id, merchant_id, source, source_ref, source_config::text, history_days,
                   expires_at < now(), used_at IS NOT NULL
            FROM consent_links WHERE state = $1
            """, [state]).first.map { row in
            ConsentLink(id: try row.decode(at: 0), flowpayCustomerID: try row.decode(at: 1), merchantID: try row.decode(at: 2),
                        source: Customer.Source(rawValue: try row.decode(String.self, at: 3)) ?? .gocardless, sourceRef: try row.decode(at: 4),
                        sourceConfig: try row.decode(at: 5), historyDays: try row.decode(at: 6), expired: try row.decode(at: 7), used: try row.decode(at: 8))
        }
    }

    /// Marks the link used (only once: false when another callback got there first).
    public func useConsentLink(id: Int64, outcome: String) throws -> Bool {
        try connection.execute("UPDATE consent_links SET used_at = now(), outcome = $2 WHERE id = $1 AND used_at IS NULL", [id, outcome]) == 1
    }

    /// Sets the link's outcome; false when it already was that (nothing changed).
    @discardableResult
    public func noteConsentLink(id: Int64, outcome: String) throws -> Bool {
        try connection.execute("UPDATE consent_links SET outcome = $2 WHERE id = $1 AND outcome IS DISTINCT FROM $2", [id, outcome]) == 1
    }

    /// The consent is real: register the customer (or point an existing one at the new consent, keeping its
    /// source settings where the link does not set them). Its first sync under the new consent is a priority:
    /// many banks give the full history only right after the customer's authentication. Returns its id.
    public func activateCustomer(from link: ConsentLink) throws -> Int64 {
        try connection.queryValue(Int64.self, """
            INSERT INTO customers (flowpay_customer_id, merchant_id, source, source_ref, source_config, history_days, priority_sync_at)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6, now())
            ON CONFLICT (flowpay_customer_id) DO UPDATE SET source = EXCLUDED.source, source_ref = EXCLUDED.source_ref,
                source_config = CASE WHEN customers.source = EXCLUDED.source THEN customers.source_config || EXCLUDED.source_config
                                     ELSE EXCLUDED.source_config END,
                history_days = EXCLUDED.history_days, status = 'active', priority_sync_at = now(),
                -- the new consent's terms are read on its first sync (a daily run reuses stored terms)
                consent_expires_at = NULL, history_days_cap = NULL
            RETURNING id
            """, [link.flowpayCustomerID, link.merchantID, link.source.rawValue, link.sourceRef, JSONText(link.sourceConfig), link.historyDays])
    }
}
