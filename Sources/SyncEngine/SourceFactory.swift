import Aggregators
import AsyncHTTPClient
import Foundation
import Store

/// Builds the `BankDataSource` of a customer from its stored source and settings, sharing one GoCardless
/// client (one token cache) and one HTTP client per Berlin Group bank configuration.
public actor SourceFactory {
    public enum Failure: Error, CustomStringConvertible {
        case notConfigured(String)
        case badSourceConfig(customer: UUID, String)

        public var description: String {
            switch self {
            case .notConfigured(let what): what
            case .badSourceConfig(let customer, let detail): "customer \(customer) has unusable source settings: \(detail)"
            }
        }
    }

    let goCardless: GoCardlessConfiguration?
    private var goCardlessClient: GoCardlessClient?
    private var httpClients: [HTTPClient] = []
    private var berlinGroupClients: [String: HTTPClient] = [:]

    public init(goCardless: GoCardlessConfiguration?) {
        self.goCardless = goCardless
    }

    public func source(for record: CustomerRecord) throws -> any BankDataSource {
        switch record.customer.source {
        case .gocardless:
            guard let goCardless else {
                throw Failure.notConfigured("GOCARDLESS_SECRET_ID and GOCARDLESS_SECRET_KEY are needed to sync GoCardless customers")
            }
            if goCardlessClient == nil {
                // 64 connections: one aggregator serves every customer of the run.
                let http = goCardless.makeHTTPClient(connectionsPerHost: 64)
                httpClients.append(http)
                goCardlessClient = GoCardlessClient(configuration: goCardless, httpClient: http)
            }
            return GoCardlessSource(client: goCardlessClient!, requisitionID: record.customer.sourceRef)
        case .berlingroup:
            let configuration = try Self.berlinGroupConfiguration(record)
            let key = "\(configuration.baseURL)|\(configuration.clientCertificatePath ?? "")|\(configuration.clientKeyPath ?? "")"
            let http: HTTPClient
            if let existing = berlinGroupClients[key] {
                http = existing
            } else {
                do { http = try configuration.makeHTTPClient() } catch {
                    throw Failure.badSourceConfig(customer: record.customer.flowpayCustomerID, "\(error)")
                }
                berlinGroupClients[key] = http
                httpClients.append(http)
            }
            return BerlinGroupSource(configuration: configuration, httpClient: http)
        }
    }

    /// `source_config` of a Berlin Group customer: `{"baseURL", "clientCertificate"?, "clientKey"?, "stableTransactionIds"?}`;
    /// the consent id is the customer's source reference.
    public static func berlinGroupConfiguration(_ record: CustomerRecord) throws -> BerlinGroupConfiguration {
        guard let configuration = BerlinGroupConfiguration(sourceConfig: record.sourceConfig, consentID: record.customer.sourceRef) else {
            throw Failure.badSourceConfig(customer: record.customer.flowpayCustomerID, "baseURL (the bank's API base) is missing")
        }
        return configuration
    }

    public func shutdown() async {
        for client in httpClients { try? await client.shutdown() }
        httpClients = []
        berlinGroupClients = [:]
        goCardlessClient = nil
    }
}
