import Aggregators
import BankSyncCore
import Foundation
import Sandbox
import Testing
import TestSupport

@Suite struct GoCardlessSourceTests {
    @Test(.serialized, arguments: [today] + TestCalendar.awkwardDays)
    func fullBackfillOf730DaysAcrossPages(today: Day) async throws {
        try await SandboxPeers.with(today: today) { peers in
            let source = peers.goCardlessSource()
            let snapshot = try await source.accounts()
            #expect(snapshot.accounts.count == 2)
            #expect(snapshot.maxHistoryDays == 730)
            #expect(snapshot.consentExpiresAt.map { $0 > Date().addingTimeInterval(170 * 86_400) } == true)
            let account = try #require(snapshot.accounts.first)
            #expect(account.account.iban?.hasPrefix("CZ65") == true)
            #expect(account.account.bic == "SFINCZPPXXX")
            // The bank's books of a day close six days later (SyntheticBank): its booked balances are of that day.
            #expect(account.account.balances.map(\.kind) == [.closingBooked, .openingBooked, .interimAvailable])
            #expect(account.account.balances.first?.referenceDate == today.adding(days: -SyntheticBank.booksCloseAfterDays))

            let window = SyncWindow.next(today: today, bookedThrough: nil, historyDays: 730, sourceMaxHistoryDays: snapshot.maxHistoryDays)
            let (pages, transactions) = try await collect(source.transactions(of: account, window: window))
            let booked = transactions.filter { $0.status == .booked }
            #expect(pages > 1)
            #expect(booked.count > 700)
            #expect(booked.allSatisfy { window.contains($0.bookingDate!) })
            #expect(booked.allSatisfy { $0.sourceID != nil || $0.remittance == SyntheticBank.feeText },
                    "booked transactions carry internalTransactionId (the bank's own fee has none)")
            #expect(booked.contains { $0.remittance == SyntheticBank.feeText && $0.counterpartyName == nil })
            #expect(transactions.filter { $0.status == .pending }.allSatisfy { $0.sourceID == nil }, "pending ones are fingerprinted")
            #expect(booked.first?.rawJSON?.contains("internalTransactionId") == true)
            #expect(source.transactionIDsAreStable)
        }
    }

    @Test func aBankWithoutIDsFallsBackToFingerprintsAndCapsHistory() async throws {
        try await SandboxPeers.with { peers in
            let source = peers.goCardlessSource("sandbox-req-2")
            let snapshot = try await source.accounts()
            #expect(snapshot.maxHistoryDays == 540)
            let window = SyncWindow.next(today: today, bookedThrough: nil, historyDays: 730, sourceMaxHistoryDays: snapshot.maxHistoryDays)
            #expect(window.cappedAtDays == 540)
            let (_, transactions) = try await collect(source.transactions(of: snapshot.accounts[0], window: window))
            #expect(!transactions.isEmpty)
            #expect(transactions.allSatisfy { $0.sourceID == nil })
        }
    }

    @Test func theAccessTokenIsRefreshedMidStream() async throws {
        try await SandboxPeers.with { peers in
            let source = peers.goCardlessSource()
            let snapshot = try await source.accounts()
            // The access token runs out between two calls (no sleeping: the sandbox expires it).
            try await peers.goCardlessControl(#"{"expireAccessTokens": true}"#)
            let window = SyncWindow(from: today.adding(days: -30), to: today, isFirstSync: false)
            let (_, transactions) = try await collect(source.transactions(of: snapshot.accounts[0], window: window))
            #expect(!transactions.isEmpty)
            #expect(await peers.goCardless.tokenRequests == 1, "one token/new")
            #expect(await peers.goCardless.refreshRequests >= 1, "then token/refresh, not a new pair")
        }
    }

    @Test func theAPIsOwn429IsWaitedOutThenSucceeds() async throws {
        try await SandboxPeers.with { peers in
            try await peers.goCardlessControl(#"{"apiRateLimited": 1}"#)
            let started = ContinuousClock.now
            let snapshot = try await peers.goCardlessSource().accounts()
            #expect(snapshot.accounts.count == 2)
            #expect(started.duration(to: .now) >= .seconds(1))
        }
    }

    @Test func anExhaustedDailyBudgetIsRateLimitedNotRetried() async throws {
        try await SandboxPeers.with { peers in
            let source = peers.goCardlessSource()
            let snapshot = try await source.accounts()
            let account = snapshot.accounts[0]
            try await peers.goCardlessControl(#"{"budgetAccount": "\#(account.account.sourceAccountID)", "budgetScope": "transactions", "budgetRemaining": 0}"#)
            let window = SyncWindow(from: today.adding(days: -30), to: today, isFirstSync: false)
            await #expect {
                _ = try await collect(source.transactions(of: account, window: window))
            } throws: { error in
                guard case SourceError.rateLimited(let id, let retryAt, _)? = error as? SourceError else { return false }
                return id == account.account.sourceAccountID && retryAt != nil
            }
        }
    }

    /// A daily run with the consent's terms and every account's details stored reads no requisition (nor agreement
    /// or institution): balances and transactions only. An ended consent still ends the customer's sync then — its
    /// accounts answer 401 `AccessExpiredError`.
    @Test func aDailyRunThatKnowsEverythingReadsNoRequisitionAndStillSeesAnEndedConsent() async throws {
        try await SandboxPeers.with { peers in
            let source = peers.goCardlessSource("sandbox-req-3")
            let (details, known) = try await Self.everythingKnownOnASkipDay(source)
            let quiet: Day = try #require(known.today)
            #expect(source.readsRequisition(KnownAccounts(details: details, consentTermsKnown: false, today: quiet)), "terms unknown: read it")
            #expect(source.readsRequisition(KnownAccounts(details: [:], consentTermsKnown: true, today: quiet)), "no account stored: read it")

            let before = await peers.goCardless.stats()["apiCalls"] ?? 0
            let daily = try await source.accounts(known: known)
            let calls = (await peers.goCardless.stats()["apiCalls"] ?? 0) - before
            #expect(calls == details.count, "one balances call per account, nothing else (\(calls) calls for \(details.count) accounts)")
            #expect(Set(daily.accounts.map(\.account.sourceAccountID)) == Set(details.keys))
            #expect(daily.accounts.allSatisfy { !$0.account.balances.isEmpty }, "balances are read")
            #expect(!daily.consentTermsRead)

            try await peers.goCardlessControl(#"{"expireRequisition": "sandbox-req-3"}"#)
            await #expect {
                _ = try await source.accounts(known: known)
            } throws: { error in
                if case SourceError.consentExpired? = error as? SourceError { return true }
                return false
            }
        }
    }

    /// What a daily run knows after `source`'s first sync (terms, every account's details), on the first day from
    /// today on which it would not read the requisition.
    static func everythingKnownOnASkipDay(_ source: GoCardlessSource) async throws -> (details: [String: BankAccount], known: KnownAccounts) {
        var details: [String: BankAccount] = [:]
        for account in try await source.accounts().accounts {
            var stored = account.account
            stored.balances = []
            details[account.account.sourceAccountID] = stored
        }
        let start = Day(utcSecondsSince1970: Date().timeIntervalSince1970)
        let quiet = try #require((0..<60).map { start.adding(days: $0) }.first { day in
            !source.readsRequisition(KnownAccounts(details: details, consentTermsKnown: true, today: day))
        }, "some day within 60 reads no requisition")
        return (details, KnownAccounts(details: details, consentTermsKnown: true, today: quiet))
    }

    /// On a day it would skip the requisition, every account refusing its balances (an ended agreement answers
    /// `AccountValidEUAError`) makes it read the requisition after all — which says the consent ended.
    @Test func everyAccountRefusedOnASkipDayReadsTheRequisitionAfterAll() async throws {
        try await SandboxPeers.with { peers in
            let source = peers.goCardlessSource("sandbox-req-3")
            let (details, known) = try await Self.everythingKnownOnASkipDay(source)
            let account = try #require(details.keys.first)
            try await peers.goCardlessControl(#"{"faultAccount": "\#(account)", "faultScope": "balances", "faultStatus": 403, "faultType": "AccountValidEUAError"}"#)
            let before = await peers.goCardless.stats()["apiCalls"] ?? 0
            let refused = try await source.accounts(known: known)
            let calls = (await peers.goCardless.stats()["apiCalls"] ?? 0) - before
            #expect(calls >= 3, "balances, the requisition, balances again (\(calls))")
            #expect(refused.accounts.first?.missing.first?.reason.code == "agreement_invalid", "the requisition is linked: the refusal stays the account's")

            try await peers.goCardlessControl(#"{"expireRequisition": "sandbox-req-3"}"#)
            await #expect {
                _ = try await source.accounts(known: known)
            } throws: { error in
                if case SourceError.consentExpired? = error as? SourceError { return true }
                return false
            }
        }
    }

    @Test func expiredOrSuspendedAccessIsAConsentProblem() async throws {
        try await SandboxPeers.with { peers in
            try await peers.goCardlessControl(#"{"expireRequisition": "sandbox-req-3"}"#)
            await #expect(throws: SourceError.consentExpired("requisition sandbox-req-3 has expired")) {
                _ = try await peers.goCardlessSource("sandbox-req-3").accounts()
            }
            let accounts = await peers.goCardless.requisitionAccounts("sandbox-req-2")
            try await peers.goCardlessControl(#"{"suspendAccount": "\#(accounts[0])"}"#)
            await #expect {
                _ = try await peers.goCardlessSource("sandbox-req-2").accounts()
            } throws: { error in
                if case SourceError.consentExpired? = error as? SourceError { return true }
                return false
            }
        }
    }

    /// A row the mapping cannot read is set aside with the account and field named; the rest of the page comes.
    @Test func malformedTransactionsAreSetAsideNamingTheAccountAndField() async throws {
        try await SandboxPeers.with { peers in
            let source = peers.goCardlessSource()
            let account = try await source.accounts().accounts[0]
            try await peers.goCardlessControl(#"{"malformedAccount": "\#(account.account.sourceAccountID)"}"#)
            let refused = RefusedRowCollector()
            let window = SyncWindow(from: today.adding(days: -30), to: today, isFirstSync: false)
            let (_, transactions) = try await collect(source.transactions(of: account, window: window, refused: refused))
            let row = try #require(refused.collected.first)
            #expect(row.account == account.account.sourceAccountID)
            #expect(row.field == "transactions.booked[0].bookingDate")
            #expect(row.rawJSON.contains("bookingDate"))
            #expect(transactions.isEmpty, "the sandbox's malformed answer holds that one row only")
        }
    }

    @Test func wrongSecretsAreUnauthorised() async throws {
        try await SandboxPeers.with { peers in
            let client = GoCardlessClient(configuration: GoCardlessConfiguration(apiURL: peers.goCardlessURL, secretID: "x", secretKey: "y"),
                                          httpClient: peers.http)
            await #expect {
                _ = try await GoCardlessSource(client: client, requisitionID: "sandbox-req-1").accounts()
            } throws: { error in
                if case SourceError.unauthorised? = error as? SourceError { return true }
                return false
            }
        }
    }
}
