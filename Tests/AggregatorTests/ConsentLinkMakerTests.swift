import Aggregators
import AsyncHTTPClient
import Foundation
import Store
import SyncEngine
import Testing
import TestSupport

/// `ConsentLinkMaker`, the link logic `banksync link` and the ops console share, against the GoCardless and
/// Berlin Group sandboxes.
@Suite struct ConsentLinkMakerTests: CustomerSyncing {
    @Test func aRenewalAsksTheStoredRequisitionsInstitutionAndEndsTheOpenLink() async throws {
        try await SandboxPeers.with { peers in
            try await TestDatabase.with { database in
                let store = try await migratedStore(database)
                defer { store.connection.close() }
                // Linked before the institution was stored with the consent: only the requisition names it.
                let customer = UUID()
                _ = try store.addCustomer(flowpayCustomerID: customer, merchantID: "m-renew", source: .gocardless, sourceRef: "sandbox-req-2",
                                          historyDays: 180)
                try store.createConsentLink(flowpayCustomerID: customer, merchantID: "m-renew", source: .gocardless, sourceRef: "earlier",
                                            historyDays: 180, state: Store.newLinkState(), link: "https://bank.example/earlier")
                let record = try #require(try store.customer(flowpayCustomerID: customer))
                let maker = ConsentLinkMaker(goCardless: GoCardlessClient(configuration: peers.goCardlessConfiguration, httpClient: peers.http),
                                             http: peers.http, callbackBase: "https://sync.example/")
                let link = try await maker.create(.renewal(of: record, today: peers.today), existing: record)
                #expect(link.command.contains("--institution NOIDBANK_NOIDCZPP"))
                #expect(link.command.contains("--history-days 180"))
                #expect(link.sourceConfig == #"{"institution":"NOIDBANK_NOIDCZPP"}"#)
                #expect(try await store.record(link) == 1)
                #expect(try store.openConsentLink(flowpayCustomerID: customer)?.sourceRef == link.sourceRef)
                let earlier = try store.connection.query("SELECT outcome, expires_at <= now() FROM consent_links WHERE source_ref = 'earlier'")
                #expect(try earlier.first?.decode(String?.self, at: 0) == "superseded")
                #expect(try earlier.first?.decode(Bool.self, at: 1) == true)
                // The new requisition is at the same bank, waiting for the customer.
                let client = GoCardlessClient(configuration: peers.goCardlessConfiguration, httpClient: peers.http)
                #expect(try await client.requisitionInstitution(link.sourceRef) == "NOIDBANK_NOIDCZPP")
                #expect(try await client.requisitionStatus(link.sourceRef) == "CR")
                #expect(link.link.hasSuffix("/sandbox-consent/\(link.sourceRef)"))
            }
        }
    }

    @Test func settingsThatAreMissingAreNamed() async throws {
        try await SandboxPeers.with { peers in
            let maker = ConsentLinkMaker(goCardless: nil, http: peers.http, callbackBase: "https://sync.example")
            let request = ConsentLinkRequest(flowpayCustomerID: UUID(), merchantID: "m", source: .gocardless, historyDays: 90, today: peers.today)
            await #expect(throws: ConsentLinkError.setting("GOCARDLESS_SECRET_ID", "GoCardless credentials are needed to create a link")) {
                try await maker.create(request, existing: nil)
            }
            var berlin = request
            berlin.source = .berlingroup
            await #expect(throws: ConsentLinkError.setting("--bank-url", "Berlin Group links need the bank's API base URL")) {
                try await maker.create(berlin, existing: nil)
            }
            let withURL = ConsentLinkMaker(goCardless: GoCardlessClient(configuration: peers.goCardlessConfiguration, httpClient: peers.http),
                                           http: peers.http, callbackBase: "https://sync.example")
            await #expect(throws: ConsentLinkError.setting("--institution", "GoCardless links need the bank's institution id")) {
                try await withURL.create(request, existing: nil)
            }
            berlin.bankURL = peers.berlinGroupURL
            let consent = try await withURL.create(berlin, existing: nil)
            #expect(consent.command.contains("--bank-url \(peers.berlinGroupURL)"))
            #expect(consent.link.hasPrefix("http"))
        }
    }
}
