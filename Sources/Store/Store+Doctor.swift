import Foundation
import Postgres

/// What `banksync doctor` needs to know about the stored customers to decide which checks matter.
public struct ConfiguredSources: Sendable {
    /// Customers not disabled, per source.
    public var goCardlessCustomers = 0
    public var berlinGroupCustomers = 0
    /// One Berlin Group customer per distinct bank configuration (base URL, client certificate, key), the
    /// most recently synced first: its consent is the one the bank is asked about.
    public var berlinGroupBanks: [CustomerRecord] = []
    /// Whether `banksync link` was ever used (then the bank redirects customers to BANKSYNC_PUBLIC_URL).
    public var consentLinksUsed = false
}

extension Store {
    public func configuredSources() throws -> ConfiguredSources {
        var sources = ConfiguredSources()
        if let row = try connection.query("""
            SELECT count(*) FILTER (WHERE source = 'gocardless'), count(*) FILTER (WHERE source = 'berlingroup'),
                   EXISTS (SELECT 1 FROM consent_links)
            FROM customers WHERE status <> 'disabled'
            """).first {
            sources.goCardlessCustomers = try row.decode(at: 0)
            sources.berlinGroupCustomers = try row.decode(at: 1)
            sources.consentLinksUsed = try row.decode(at: 2)
        }
        sources.berlinGroupBanks = try connection.query("""
            SELECT \(Customer.columns) FROM (
                SELECT DISTINCT ON (source_config->>'baseURL', source_config->>'clientCertificate', source_config->>'clientKey') *
                FROM customers WHERE source = 'berlingroup' AND status <> 'disabled'
                ORDER BY source_config->>'baseURL', source_config->>'clientCertificate', source_config->>'clientKey',
                         status = 'active' DESC, last_success_at DESC NULLS LAST, id
            ) bank ORDER BY source_config->>'baseURL', id
            """).map(Self.decodeCustomer)
        return sources
    }
}
