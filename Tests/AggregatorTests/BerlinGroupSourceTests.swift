import AsyncHTTPClient
@testable import Aggregators
import BankSyncCore
import Foundation
import Sandbox
import Testing
import TestSupport

@Suite struct BerlinGroupSourceTests {
    @Test(.serialized, arguments: [today] + TestCalendar.awkwardDays)
    func backfillFollowsLinksNextToTheEnd(today: Day) async throws {
        try await SandboxPeers.with(pageSize: 100, today: today) { peers in
            let source = peers.berlinGroupSource()
            let snapshot = try await source.accounts()
            #expect(snapshot.accounts.count == 2)
            #expect(snapshot.accounts[0].account.balances.first?.kind == .closingBooked)
            #expect(snapshot.consentExpiresAt != nil)
            let window = SyncWindow.next(today: today, bookedThrough: nil, historyDays: 730)
            let (pages, transactions) = try await collect(source.transactions(of: snapshot.accounts[0], window: window))
            #expect(pages >= 8, "about 1,100 transactions in pages of 100")
            // Pages neither overlap nor repeat: every transaction's source JSON is distinct (twins differ by id).
            #expect(Set(transactions.map { "\($0.status)\($0.rawJSON ?? "")" }).count == transactions.count)
            let booked = transactions.filter { $0.status == .booked }
            #expect(booked.count > 700)
            #expect(booked.allSatisfy { window.contains($0.bookingDate!) })
            #expect(!source.transactionIDsAreStable, "fingerprints unless the bank is declared stable")
        }
    }

    @Test func consentStatusesMeanReconnect() async throws {
        try await SandboxPeers.with { peers in
            try await peers.berlinGroupControl(#"{"createConsent": "c-expired", "accounts": 1}"#)
            try await peers.berlinGroupControl(#"{"expireConsent": "c-expired"}"#)
            await #expect(throws: SourceError.consentExpired("consent c-expired is expired")) {
                _ = try await peers.berlinGroupSource("c-expired").accounts()
            }
            try await peers.berlinGroupControl(#"{"createConsent": "c-revoked", "accounts": 1}"#)
            try await peers.berlinGroupControl(#"{"revokeConsent": "c-revoked"}"#)
            await #expect(throws: SourceError.consentExpired("consent c-revoked is revokedByPsu")) {
                _ = try await peers.berlinGroupSource("c-revoked").accounts()
            }
        }
    }

    @Test func throttlingIsRateLimited() async throws {
        try await SandboxPeers.with { peers in
            let source = peers.berlinGroupSource()
            let account = try await source.accounts().accounts[0]
            try await peers.berlinGroupControl(#"{"throttle": 1}"#)
            await #expect {
                _ = try await collect(source.transactions(of: account, window: SyncWindow(from: today.adding(days: -10), to: today, isFirstSync: false)))
            } throws: { error in
                if case SourceError.rateLimited? = error as? SourceError { return true }
                return false
            }
            // Then it works again.
            let (_, transactions) = try await collect(source.transactions(of: account, window: SyncWindow(from: today.adding(days: -10), to: today, isFirstSync: false)))
            #expect(transactions.count >= 0)
        }
    }

    @Test func aMalformedLaterPageFailsTheWindowNamingTheAccount() async throws {
        try await SandboxPeers.with(pageSize: 50) { peers in
            let source = peers.berlinGroupSource()
            let account = try await source.accounts().accounts[1]
            try await peers.berlinGroupControl(#"{"malformedAccount": "\#(account.account.sourceAccountID)"}"#)
            var pagesBeforeFailure = 0
            do {
                for try await _ in source.transactions(of: account, window: SyncWindow(from: today.adding(days: -300), to: today, isFirstSync: false)) {
                    pagesBeforeFailure += 1
                }
                Issue.record("a malformed page was accepted")
            } catch let SourceError.malformed(id, field, _) {
                #expect(id == account.account.sourceAccountID)
                #expect(field.hasPrefix("/v1/accounts/"))
            }
            #expect(pagesBeforeFailure == 1, "the first page arrived before the broken one")
        }
    }

    /// A bank under a base path (`/psd2`, as the specification's examples) hands out absolute-path links
    /// (`/psd2/v1/accounts/…`): they replace the base path, every page is read; a link to another host is not
    /// followed.
    @Test func linksResolveAgainstTheResponseURLUnderABasePath() async throws {
        let state = BerlinGroupSandboxState(pageSize: 50, today: today)
        let ids = await state.makeValidConsent(id: "psd2-consent", accountCount: 1)
        let (port, server) = try await startServer(router: BerlinGroupSandbox.router(state: state, publicURL: { "http://127.0.0.1" }, basePath: "/psd2"),
                                                   name: "bg-psd2")
        defer { server.cancel() }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await http.shutdown() } }
        let base = "http://127.0.0.1:\(port)/psd2"
        let source = BerlinGroupSource(configuration: BerlinGroupConfiguration(baseURL: base, consentID: "psd2-consent"), httpClient: http)
        let snapshot = try await source.accounts()
        let account = try #require(snapshot.accounts.first { $0.account.sourceAccountID == ids[0] })
        let window = SyncWindow.next(today: today, bookedThrough: nil, historyDays: 730)
        let (pages, transactions) = try await collect(source.transactions(of: account, window: window))
        #expect(pages > 10, "about 1,100 transactions in pages of 50")
        #expect(transactions.count > 1000)

        // The RFC 3986 cases, against the URL of the response that carried the link.
        let current = base + "/v1/accounts/\(ids[0])/transactions?page=1"
        #expect(try source.resolve(link: "/psd2/v1/accounts/x/transactions?page=2", from: current, account: "x")
                == "http://127.0.0.1:\(port)/psd2/v1/accounts/x/transactions?page=2")
        #expect(try source.resolve(link: "transactions?page=2", from: current, account: "x")
                == base + "/v1/accounts/\(ids[0])/transactions?page=2")
        #expect(try source.resolve(link: base + "/v1/next", from: current, account: "x") == base + "/v1/next")
        #expect(throws: SourceError.self) { try source.resolve(link: "https://evil.example/steal", from: current, account: "x") }
        #expect(throws: SourceError.self) { try source.resolve(link: "http://127.0.0.1:1/psd2/v1/next", from: current, account: "x") }
    }

    /// The consent codes count with the statuses the specification gives them (CONSENT_UNKNOWN with 400 or 403,
    /// CONSENT_INVALID / CONSENT_EXPIRED with 401; banks mix these up); the same codes with a 5xx or a 429 are
    /// not a verdict on the consent.
    @Test(arguments: [
        (400, "CONSENT_UNKNOWN", "consent_expired"), (403, "CONSENT_UNKNOWN", "consent_expired"),
        (401, "CONSENT_INVALID", "consent_expired"), (401, "CONSENT_EXPIRED", "consent_expired"),
        (500, "CONSENT_EXPIRED", "bank_unavailable"), (429, "CONSENT_INVALID", "rate_limited"),
        (403, "CONSENT_EXPIRED", "consent_expired"), (401, "CERTIFICATE_EXPIRED", "source_unauthorised"),
    ])
    func consentCodesCountWhereTheSpecificationPutsThem(status: Int, code: String, expected: String) {
        let source = BerlinGroupSource(configuration: BerlinGroupConfiguration(baseURL: "http://127.0.0.1:1", consentID: "c"),
                                       httpClient: HTTPClient.shared)
        let body = Array(#"{"tppMessages":[{"category":"ERROR","code":"\#(code)","text":"t"}]}"#.utf8)
        let error = source.classify(SourceHTTP.Response(status: status, headers: [:], body: body), account: "acc-1")
        #expect(error.code == expected, "HTTP \(status) \(code): \(error)")
    }
}
