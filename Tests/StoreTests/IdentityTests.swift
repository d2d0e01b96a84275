import BankSyncCore
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// Transaction and account identity across key strategies, consents and the 0009 upgrade.
@Suite struct IdentityTests {
    let window = SyncWindow(from: Day(iso: "2026-11-01")!, to: Day(iso: "2026-11-25")!, isFirstSync: true)

    /// The same bookings under new source ids and a new key generation (a renewed consent) are adopted:
    /// nothing queued, every Flowpay id unchanged, the new ids recorded.
    @Test func aRenewedConsentsNewIDsAreAdoptedNotQueued() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let old = [booked("2026-11-20", "-10.00", id: "old-1"), booked("2026-11-20", "-10.00", id: "old-2"),
                       booked("2026-11-21", "-55.00", "rent", id: "old-3")]
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true, pages: pages([old]))
            try fixture.store.connection.execute(deliverAccountSQL, [fixture.account.id])
            let ids = try flowpayIDs(fixture)

            // Same consent, unknown id with known content: a new booking (ids are the identity within a consent).
            let sameConsent = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                                             pages: pages([old + [booked("2026-11-21", "-55.00", "rent", id: "other")]]))
            #expect(sameConsent.newBooked == 1)
            try fixture.store.connection.execute("DELETE FROM transactions WHERE source_tx_id = 'other'")

            // Renewed consent: every id is new, the content is the same, in another order.
            let renewed = [booked("2026-11-21", "-55.00", "rent", id: "new-3"), booked("2026-11-20", "-10.00", id: "new-1"),
                           booked("2026-11-20", "-10.00", id: "new-2"), booked("2026-11-22", "-7.00", "new booking", id: "new-4")]
            let result = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                                        keyGeneration: 2, pages: pages([renewed]))
            #expect(result.newBooked == 1, "only the genuinely new booking")
            #expect(result.adopted == 3)
            #expect(try fixture.count("\(queuedSQL)") == 1)
            #expect(try flowpayIDs(fixture).filter { $0.key.hasPrefix("new-") && $0.key != "new-4" }.values.sorted() == ids.values.sorted())
            // The next run under the new consent finds every row by its new key.
            let again = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                                       keyGeneration: 2, pages: pages([renewed]))
            #expect(again.newBooked == 0 && again.adopted == 0 && again.duplicates == 4)
        }
    }

    /// After a renewal the bank returns a booking from before the window (it filters by value date) under its new
    /// id: it is not sent again — only part of its day came back, so it is held (`awaiting_whole_day`, visible) until
    /// a read with its whole day, which gives it the stored row and its Flowpay id. A booking the bank never returned
    /// before is still new when it comes from outside the window.
    @Test func aRenewedConsentsBookingFromBeforeTheWindowIsNotStoredTwice() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let history = SyncWindow(from: Day(iso: "2026-10-01")!, to: Day(iso: "2026-11-25")!, isFirstSync: true)
            let old = [booked("2026-10-31", "-12.00", "parking", id: "old-x"), booked("2026-11-05", "-40.00", "fuel", id: "old-y")]
            _ = try await fixture.store.ingest(account: fixture.account, window: history, sourceIDsAreStable: true, pages: pages([old]))
            try fixture.store.connection.execute(deliverAccountSQL, [fixture.account.id])
            let ids = try flowpayIDs(fixture)

            let daily = SyncWindow(from: Day(iso: "2026-11-01")!, to: Day(iso: "2026-11-25")!, isFirstSync: false)
            let renewed = [booked("2026-10-31", "-12.00", "parking", id: "new-x"), booked("2026-11-05", "-40.00", "fuel", id: "new-y"),
                           booked("2026-10-30", "-3.00", "never seen before", id: "new-z")]
            let result = try await fixture.store.ingest(account: fixture.account, window: daily, sourceIDsAreStable: true,
                                                        keyGeneration: 2, pages: pages([renewed]))
            #expect(result.outsideWindow == 2 && result.outsideWindowDropped == 0 && result.held == 1)
            #expect(result.adopted == 1)
            #expect(result.newBooked == 1, "only the booking never stored")
            #expect(try fixture.count("\(queuedSQL)") == 1)
            #expect(try fixture.count() == 4, "the booking from before the window stored, held")
            #expect(try fixture.store.heldTransactions().map(\.reason) == ["awaiting_whole_day"])
            // The next deep read has the whole day: the booking takes its stored row, Flowpay id and all.
            let deep = SyncWindow(from: Day(iso: "2026-10-01")!, to: Day(iso: "2026-11-25")!, isFirstSync: false)
            let again = try await fixture.store.ingest(account: fixture.account, window: deep, sourceIDsAreStable: true,
                                                       keyGeneration: 2, pages: pages([renewed]))
            #expect(again.newBooked == 0 && again.adopted == 1 && again.duplicates == 3, "an adopted row counts as fetched again")
            let after = try flowpayIDs(fixture)
            #expect(after["new-x"] == ids["old-x"] && after["new-y"] == ids["old-y"])
            #expect(try fixture.count("\(queuedSQL)") == 1)
            #expect(try fixture.count() == 3)
            #expect(try fixture.store.heldTransactions().isEmpty, "the whole-day read decided the hold")
        }
    }

    /// The same, when what comes back from before the window is a new booking identical to a stored one (the second
    /// parking ticket of a day, posted late): it is not taken for the stored one, nor lost — held until the read with
    /// the whole day releases it as the second booking it is, and the first keeps its Flowpay id.
    @Test func anIdenticalTwinFromBeforeTheWindowIsNeitherLostNorMerged() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let history = SyncWindow(from: Day(iso: "2026-10-01")!, to: Day(iso: "2026-11-25")!, isFirstSync: true)
            _ = try await fixture.store.ingest(account: fixture.account, window: history, sourceIDsAreStable: true,
                                               pages: pages([[booked("2026-10-31", "-2.00", "parking", id: "old-1")]]))
            try fixture.store.connection.execute(deliverAccountSQL, [fixture.account.id])
            let first = try #require(try flowpayIDs(fixture)["old-1"])

            let daily = SyncWindow(from: Day(iso: "2026-11-01")!, to: Day(iso: "2026-11-25")!, isFirstSync: false)
            let twin = booked("2026-10-31", "-2.00", "parking", id: "new-2")
            let result = try await fixture.store.ingest(account: fixture.account, window: daily, sourceIDsAreStable: true,
                                                        keyGeneration: 2, pages: pages([[twin]]))
            #expect(result.adopted == 0 && result.newBooked == 0 && result.outsideWindowDropped == 0 && result.held == 1)
            #expect(try flowpayIDs(fixture)["old-1"] == first, "the stored booking keeps its id and key")
            #expect(try fixture.store.heldTransactions().map(\.reason) == ["awaiting_whole_day"])

            let deep = SyncWindow(from: Day(iso: "2026-10-01")!, to: Day(iso: "2026-11-25")!, isFirstSync: false)
            let whole = try await fixture.store.ingest(account: fixture.account, window: deep, sourceIDsAreStable: true, keyGeneration: 2,
                                                       pages: pages([[booked("2026-10-31", "-2.00", "parking", id: "new-1"), twin]]))
            #expect(whole.adopted == 1 && whole.newBooked == 1 && whole.holdsReleased == 1)
            #expect(try flowpayIDs(fixture)["new-1"] == first)
            #expect(try fixture.count("\(queuedSQL)") == 1)
            #expect(try fixture.count() == 2)
            #expect(try fixture.store.heldTransactions().isEmpty)
        }
    }

    /// A row held for a whole-day read that the read of its whole day no longer returns is withdrawn: never sent, the
    /// stored booking untouched, nothing left held.
    @Test func aRowHeldForItsWholeDayThatTheBankNoLongerReturnsIsWithdrawn() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let history = SyncWindow(from: Day(iso: "2026-10-01")!, to: Day(iso: "2026-11-25")!, isFirstSync: true)
            _ = try await fixture.store.ingest(account: fixture.account, window: history, sourceIDsAreStable: true,
                                               pages: pages([[booked("2026-10-31", "-2.00", "parking", id: "old-1")]]))
            try fixture.store.connection.execute(deliverAccountSQL, [fixture.account.id])
            let first = try #require(try flowpayIDs(fixture)["old-1"])
            let daily = SyncWindow(from: Day(iso: "2026-11-01")!, to: Day(iso: "2026-11-25")!, isFirstSync: false)
            let held = try await fixture.store.ingest(account: fixture.account, window: daily, sourceIDsAreStable: true, keyGeneration: 2,
                                                      pages: pages([[booked("2026-10-31", "-2.00", "parking", id: "new-2")]]))
            #expect(held.held == 1 && held.newBooked == 0)
            #expect(try fixture.count("push_state IS NULL") == 1, "held: stored, not queued")

            let deep = SyncWindow(from: Day(iso: "2026-10-01")!, to: Day(iso: "2026-11-25")!, isFirstSync: false)
            let whole = try await fixture.store.ingest(account: fixture.account, window: deep, sourceIDsAreStable: true, keyGeneration: 2,
                                                       pages: pages([[booked("2026-10-31", "-2.00", "parking", id: "new-1")]]))
            #expect(whole.holdsWithdrawn == 1 && whole.adopted == 1 && whole.newBooked == 0)
            #expect(try flowpayIDs(fixture)["new-1"] == first)
            #expect(try fixture.count() == 1 && fixture.count("\(queuedSQL)") == 0)
            #expect(try fixture.store.heldTransactions().isEmpty)
            #expect(try fixture.store.connection.queryValue(Int64.self, "SELECT booked_stored FROM watermarks WHERE account_id = $1",
                                                            [fixture.account.id]) == 1, "the account's stored total follows")
        }
    }

    /// Switching key strategy (stable ids on, then off again) adopts by content both ways.
    @Test func switchingBetweenFingerprintsAndStableIDsQueuesNothing() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let rows = [booked("2026-11-20", "-10.00", id: "a"), booked("2026-11-20", "-10.00", id: "b"), booked("2026-11-23", "-3.00", id: "c")]
            let first = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([rows]))
            #expect(first.newBooked == 3)
            let ids = Set(try flowpayIDs(fixture).values)
            let stable = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true, pages: pages([rows]))
            #expect(stable.newBooked == 0 && stable.adopted == 3)
            let back = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                      keyGeneration: 3, pages: pages([rows.reversed()]))
            #expect(back.newBooked == 0 && back.adopted == 3)
            #expect(Set(try flowpayIDs(fixture).values) == ids)
            #expect(try fixture.count() == 3)
        }
    }

    /// The same fee on two accounts of one customer (same key) gets two Flowpay ids.
    @Test func identicalBookingsOnSiblingAccountsHaveDistinctFlowpayIDs() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let sibling = AccountRef(id: try await fixture.store.upsertAccount(customerID: fixture.account.customerID, BankAccount(
                sourceAccountID: "savings", iban: "CZ6508000000192000145400", currency: "CZK")), customerID: fixture.account.customerID)
            let fee = booked("2026-11-01", "-99.00", "account fee")
            for account in [fixture.account, sibling] {
                _ = try await fixture.store.ingest(account: account, window: window, sourceIDsAreStable: false, pages: pages([[fee]]))
            }
            let ids = try fixture.store.connection.query("SELECT flowpay_id FROM transactions WHERE customer_id = $1", [fixture.account.customerID])
                .map { try $0.decode(String.self, at: 0) }
            #expect(ids.count == 2)
            #expect(Set(ids).count == 2)
            #expect(ids.allSatisfy { $0.hasPrefix("bs_") && $0.count == 35 })
        }
    }

    /// A renewed consent reporting the same IBAN (spaced differently) under a new account id attaches to the
    /// stored account; an account the consent no longer reports becomes inactive.
    @Test func accountsAreFoundByIBANAcrossConsents() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let store = fixture.store
            let other = try await store.upsertAccount(customerID: fixture.account.customerID, BankAccount(
                sourceAccountID: "closed-later", iban: "CZ6508000000192000145411", currency: "CZK"))
            let renewed = try await store.upsertAccount(customerID: fixture.account.customerID, BankAccount(
                sourceAccountID: "new-resource-id", iban: "cz6508000000192000145399", currency: "CZK"))
            #expect(renewed == fixture.account.id)
            let gone = try store.deactivateAccounts(customerID: fixture.account.customerID, notIn: [renewed], runID: nil)
            #expect(gone == [other])
            #expect(try store.connection.queryValue(Int.self, "SELECT count(*) FROM account_source_ids WHERE account_id = $1", [renewed]) == 2)
            #expect(try store.accountsForPush(customerID: fixture.account.customerID).map(\.accountID) == [renewed])
            // Reported again: active again, same row.
            #expect(try await store.upsertAccount(customerID: fixture.account.customerID, BankAccount(
                sourceAccountID: "closed-later", iban: "CZ6508000000192000145411", currency: "CZK")) == other)
            #expect(try store.accountsForPush(customerID: fixture.account.customerID).count == 2)
        }
    }

    /// A database holding rows of the 0008 schema — keys in the 0008 source-id format, and a customer whose
    /// earlier renewal left two account rows for one IBAN — upgrades without re-identifying anything: Flowpay
    /// ids stay what they were sent as, content keys equal the client's, the row synced last carries on, and
    /// the next renewal queues nothing.
    @Test func theUpgradeFrom0008KeepsIDsAndComputesContentKeys() async throws {
        try await TestDatabase.with { database in
            let connection = try database.connect()
            let all = try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))
            _ = try await Migrator(migrations: all.filter { $0.version <= 8 }).migrate(connection)
            let customerID = try connection.queryValue(Int64.self, """
                INSERT INTO customers (flowpay_customer_id, merchant_id, source, source_ref) VALUES ($1, 'm', 'gocardless', 'req-2') RETURNING id
                """, [UUID()])
            // The account as the first requisition reported it (synced until the renewal), then as the second.
            var accounts: [Int64] = []
            for (source, pulled) in [("acc-req-1", "now() - interval '100 days'"), ("acc-req-2", "now() - interval '1 day'")] {
                let id = try connection.queryValue(Int64.self, """
                    INSERT INTO accounts (customer_id, source_account_id, iban, currency) VALUES ($1, $2, 'CZ65 0800 0000 1920 0014 5399', 'CZK')
                    RETURNING id
                    """, [customerID, source])
                // Test-only: `pulled` is a literal above.
                try connection.execute("INSERT INTO watermarks (account_id, booked_through, last_pull_at) VALUES ($1, '2026-11-25', " + pulled + ")", [id])
                accounts.append(id)
            }
            let current = accounts[1]
            // As 0008 stored them on the current row: 0008 source-id keys sha256("id" 0 status 0 id), in arrival
            // order; two twins, one row still queued, one pending row keyed by its fingerprint.
            var pending = booked("2026-11-24", "-9.00", "hold")
            pending.status = .pending
            let rows = [booked("2026-11-20", "-10.00", id: "t-1"), booked("2026-11-20", "-10.00", id: "t-2"),
                        booked("2026-11-21", "-55.00", "nájem  Praha", id: "t-3"), pending]
            var keys = WindowKeys(sourceIDsAreStable: true)
            var expected: [(id: String, content: [UInt8])] = []
            for (index, row) in rows.enumerated() {
                guard let rowKeys = keys.keys(for: row) else { Issue.record("no keys"); return }
                let legacyKey: [UInt8] = try row.sourceID.map { id in
                    try connection.queryValue([UInt8].self, "SELECT sha256('\\x696400'::bytea || convert_to($1, 'UTF8') || '\\x00'::bytea || convert_to($2, 'UTF8'))",
                                              [row.status.rawValue, id])
                } ?? rowKeys.key
                expected.append((DedupKey.legacyFlowpayID(legacyKey), rowKeys.contentKey))
                try connection.execute("""
                    INSERT INTO transactions (account_id, customer_id, tx_key, status, booking_date, value_date, amount_minor, currency,
                                              counterparty_name, remittance, source_tx_id, push_state)
                    VALUES ($1, $2, $3, $4, $5, $5, $6, 'CZK', $7, $8, $9, $10)
                    """, [current, customerID, legacyKey, row.status.rawValue, row.bookingDate ?? row.valueDate, row.amount.minorUnits,
                          row.counterpartyName, row.remittance, row.sourceID,
                          row.status == .pending ? nil : (index == 0 ? "queued" : "pushed")])
            }
            _ = try await Migrator(migrations: all).migrate(connection)

            for (flowpayID, content) in expected {
                #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE flowpay_id = $1 AND content_key = $2",
                                                  [flowpayID, content]) == 1)
            }
            #expect(try connection.query("SELECT id FROM accounts WHERE active").map { try $0.decode(Int64.self, at: 0) } == [current],
                    "of the two rows for one IBAN, the one synced last carries on")
            #expect(try connection.queryValue(String.self, "SELECT iban_key FROM accounts WHERE id = $1", [current]) == "CZ6508000000192000145399")

            // The next renewal: the same IBAN under a new account id, the same bookings under new ids.
            let store = Store(connection: connection)
            try connection.execute("UPDATE customers SET source_ref = 'req-3' WHERE id = $1", [customerID])
            let record = try #require(try store.customer(id: customerID))
            #expect(record.customer.keyGeneration == 3, "2 from the migration (new source-id keys), 3 from the new consent")
            let attached = try await store.upsertAccount(customerID: customerID, BankAccount(sourceAccountID: "acc-req-3", iban: "CZ6508000000192000145399", currency: "CZK"))
            #expect(attached == current)
            let renewed = rows.map { row in
                var row = row
                row.sourceID = row.sourceID.map { "renewed-" + $0 }
                return row
            }
            let result = try await store.ingest(account: AccountRef(id: current, customerID: customerID), window: window,
                                                sourceIDsAreStable: true, keyGeneration: record.customer.keyGeneration, pages: pages([renewed]))
            #expect(result.newBooked == 0)
            #expect(result.adopted == 3)
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE \(queuedSQL)") == 1, "only the row queued before")
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM transactions") == 4)
            // …and the run after it finds every row by its new key.
            let again = try await store.ingest(account: AccountRef(id: current, customerID: customerID), window: window,
                                               sourceIDsAreStable: true, keyGeneration: record.customer.keyGeneration, pages: pages([renewed]))
            #expect(again.newBooked == 0 && again.adopted == 0 && again.duplicates == 4)
        }
    }

    /// Two identical bookings with stable ids whose stored content keys repeat (the source listed them in
    /// another order on another day) are both adopted under a renewed consent, each by one row.
    @Test func repeatedStoredContentKeysAreAdoptedOneRowEach() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let first = booked("2026-11-20", "-10.00", id: "c-1")
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true, pages: pages([[first]]))
            // Newest first the next day: the second coffee gets ordinal 1 too.
            let second = booked("2026-11-20", "-10.00", id: "c-2")
            #expect(try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                                   pages: pages([[second, first]])).newBooked == 1)
            let renewed = [booked("2026-11-20", "-10.00", id: "r-1"), booked("2026-11-20", "-10.00", id: "r-2")]
            let result = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                                        keyGeneration: 2, pages: pages([renewed]))
            #expect(result.newBooked == 0)
            #expect(result.adopted == 2)
            #expect(try fixture.count() == 2)
        }
    }

    /// The bank rewrites a booking's text inside the overlap. The first fetch cannot tell an edit from another
    /// booking (the old version could be missing from that one fetch), so the new version is held: stored, neither
    /// queued nor merged. The next fetch agrees (the old version still gone): the stored row takes the new text,
    /// keeps its Flowpay id and push state, and the change is recorded; nothing is queued.
    @Test func anEditedBookingIsTheSameTransaction() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let rows = [booked("2026-11-20", "-10.00", "card 1234"), booked("2026-11-20", "-10.00", "card 1234"),
                        booked("2026-11-21", "-5.00", "bakery")]
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([rows]))
            try fixture.store.connection.execute(deliverAccountSQL, [fixture.account.id])
            let ids = Set(try flowpayIDs(fixture).values)
            let edited = [rows[0], booked("2026-11-20", "-10.00", "card 1234 Kavárna Slavia"), rows[2], booked("2026-11-24", "-1.00", "new")]
            let first = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([edited]))
            #expect(first.newBooked == 1, "only the genuinely new booking")
            #expect(first.held == 1 && first.edited == 0, "one fetch is not evidence: held, not merged")
            #expect(try fixture.count("\(queuedSQL)") == 1)
            #expect(try fixture.store.heldTransactions().map(\.remittance) == ["card 1234 Kavárna Slavia"])

            let second = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([edited]))
            #expect(second.edited == 1 && second.held == 0 && second.newBooked == 0)
            #expect(try fixture.store.heldTransactions().isEmpty)
            #expect(try fixture.count("\(queuedSQL)") == 1)
            #expect(try fixture.count("remittance = 'card 1234 Kavárna Slavia' AND \(deliveredSQL)") == 1)
            #expect(try fixture.count() == 4)
            #expect(ids.isSubset(of: Set(try flowpayIDs(fixture).values)))
            #expect(try fixture.store.connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'transaction_changed'") == 1)
            #expect(try fixture.store.connection.queryValue(Int.self, "SELECT edits FROM watermarks WHERE account_id = $1", [fixture.account.id]) == 1)
            #expect(try fixture.store.connection.queryValue(Int.self, "SELECT booked_stored FROM watermarks WHERE account_id = $1",
                                                            [fixture.account.id]) == 4)
            // Read again: nothing changes.
            let again = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([edited]))
            #expect(again.newBooked == 0 && again.edited == 0 && again.held == 0 && again.duplicates == 4)
        }
    }

    /// Stored A (−9.99 "SHOP X") is missing from one fetch (a truncated page) that brings new B (−9.99 "SHOP Y") on
    /// the same day. Taking B as A's edit would lose B and send A twice once it returns. B is held instead; the next
    /// fetch returns both, so B is a new booking: released and queued, under its own id, A untouched.
    @Test func aBookingMissingFromOneFetchDoesNotSwallowANewOne() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let a = booked("2026-11-20", "-9.99", "SHOP X"), b = booked("2026-11-20", "-9.99", "SHOP Y"), other = booked("2026-11-21", "-5.00", "bakery")
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([[a, other]]))
            try fixture.store.connection.execute(deliverAccountSQL, [fixture.account.id])
            let truncated = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                           pages: pages([[b, other]]))
            #expect(truncated.held == 1 && truncated.newBooked == 0 && truncated.edited == 0)
            #expect(try fixture.count("remittance = 'SHOP X' AND \(deliveredSQL)") == 1, "A keeps its content")
            #expect(try fixture.count("remittance = 'SHOP Y' AND push_state IS NULL") == 1, "B stored, not queued")
            let lag = try #require(try fixture.store.lagReport().first)
            #expect(lag.held == 1 && lag.heldSince != nil)

            let complete = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                          pages: pages([[a, b, other]]))
            #expect(complete.holdsReleased == 1 && complete.newBooked == 1 && complete.edited == 0 && complete.held == 0)
            #expect(try fixture.count("remittance = 'SHOP Y' AND \(queuedSQL)") == 1)
            #expect(try fixture.count("remittance = 'SHOP X' AND \(deliveredSQL)") == 1)
            #expect(try fixture.count() == 3)
            #expect(Set(try flowpayIDs(fixture).values).count == 3)
            #expect(try fixture.store.lagReport().first?.held == 0)
        }
    }

    /// Two new rows claim one stored booking that no fetch returns any more (each could be its edit, or another
    /// booking): no fetch decides, so they stay held, become an interruption after the hold limit, and ops decide:
    /// `release` queues one, `merge` makes the other the stored booking's edit; each decision is recorded. A held row
    /// the bank stops reporting is withdrawn (never sent).
    @Test func aHoldNoFetchDecidesIsAnInterruptionOpsDecide() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let a = booked("2026-11-20", "-9.99", "SHOP X"), b = booked("2026-11-20", "-9.99", "SHOP Y"), c = booked("2026-11-20", "-9.99", "SHOP X2")
            let other = booked("2026-11-21", "-3.00", "kiosk")
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([[a, other]]))
            try fixture.store.connection.execute(deliverAccountSQL, [fixture.account.id])
            #expect(try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                   pages: pages([[b, other]])).held == 1)
            // A is still missing, and C of the same day and amount arrives: is B or C the edit of A?
            #expect(try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                   pages: pages([[b, c, other]])).held == 1)
            let again = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                       pages: pages([[b, c, other]]))
            #expect(again.held == 0 && again.edited == 0 && again.holdsReleased == 0 && again.newBooked == 0)
            #expect(try fixture.store.heldTransactions().count == 2)
            #expect(try fixture.store.interruptions().isEmpty, "within the hold limit: shown in lag only")
            try fixture.store.connection.execute("UPDATE held_transactions SET held_since = now() - interval '4 days'")
            let interruption = try #require(try fixture.store.interruptions().first { $0.reason == "held" })
            #expect(interruption.customers.first?.message.hasPrefix("2 new booking(s) held") == true)
            #expect(try fixture.store.lagReport().first?.status == "held")

            let held = try fixture.store.heldTransactions()
            let shopY = try #require(held.first { $0.remittance == "SHOP Y" })
            let shopX2 = try #require(held.first { $0.remittance == "SHOP X2" })
            #expect(shopY.candidate?.remittance == "SHOP X" && shopX2.candidate?.remittance == "SHOP X")
            try await fixture.store.decideHold(flowpayID: shopY.flowpayID, merge: false, reason: "two purchases", operator: "ops")
            try await fixture.store.decideHold(flowpayID: shopX2.flowpayID, merge: true, reason: "the bank renamed the shop", operator: "ops")
            await #expect(throws: HoldError.notHeld(flowpayID: shopX2.flowpayID)) {
                try await fixture.store.decideHold(flowpayID: shopX2.flowpayID, merge: false, reason: "again", operator: "ops")
            }
            #expect(try fixture.count("remittance = 'SHOP Y' AND \(queuedSQL)") == 1)
            #expect(try fixture.count("remittance = 'SHOP X2' AND \(deliveredSQL)") == 1, "A took C's text and stays delivered")
            #expect(try fixture.count() == 3)
            #expect(try fixture.store.heldTransactions().isEmpty)
            #expect(try fixture.store.interruptions().isEmpty)
            #expect(try fixture.store.connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'hold_decided'") == 2)

            // A held row the bank stops reporting is withdrawn.
            let d = booked("2026-11-21", "-3.00", "kiosk 42")
            #expect(try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                   pages: pages([[booked("2026-11-20", "-9.99", "SHOP X2"), b, d]])).held == 1)
            let withdrawn = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                           pages: pages([[booked("2026-11-20", "-9.99", "SHOP X2"), b, other]]))
            #expect(withdrawn.holdsWithdrawn == 1 && withdrawn.held == 0)
            #expect(try fixture.count("remittance = 'kiosk 42'") == 0)
        }
    }

    /// A booking that took another key (the bank's edit) keeps the Flowpay id derived from its old key; a new booking
    /// arriving later under that old key gets another id, never the same one.
    @Test func aKeyFreedByAnEditNeverGivesItsIDToAnotherBooking() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let original = booked("2026-11-20", "-10.00", "card"), edited = booked("2026-11-20", "-10.00", "card Slavia")
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([[original]]))
            try fixture.store.connection.execute(deliverAccountSQL, [fixture.account.id])
            for _ in 0..<2 {
                _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([[edited]]))
            }
            #expect(try fixture.count() == 1)
            // A second, genuinely new booking with the first one's original text.
            let result = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false,
                                                        pages: pages([[edited, original]]))
            #expect(result.newBooked == 1)
            let ids = try fixture.store.connection.query("SELECT flowpay_id FROM transactions WHERE account_id = $1", [fixture.account.id])
                .map { try $0.decode(String.self, at: 0) }
            #expect(ids.count == 2 && Set(ids).count == 2)
        }
    }

    /// The same booking stored into an empty database (a restore that lost it) gets the id it had: ids are derived
    /// from the customer, the account's IBAN and currency, and the booking's key — not from database row ids.
    @Test func flowpayIDsAreDerivedNotDrawn() async throws {
        let customer = UUID()
        var derived: [[String]] = []
        for _ in 0..<2 {
            try await TestDatabase.with { database in
                let store = Store(connection: try database.connect())
                _ = try await Migrator(migrations: try Migration.load(from: BankSyncProcess.packageRoot.appendingPathComponent("sql"))).migrate(store.connection)
                // Other rows first, so the database's own ids differ between the two databases.
                if derived.isEmpty { _ = try await IngestFixture.another(store) }
                let customerID = try store.addCustomer(flowpayCustomerID: customer, merchantID: "m", source: .gocardless, sourceRef: "req")
                let accountID = try await store.upsertAccount(customerID: customerID, BankAccount(
                    sourceAccountID: "acc-\(UUID())", iban: "CZ65 0800 0000 1920 0014 5399", currency: "CZK"))
                let rows = [booked("2026-11-20", "-10.00", id: "t-1"), booked("2026-11-20", "-10.00", id: "t-2")]
                _ = try await store.ingest(account: AccountRef(id: accountID, customerID: customerID), window: window, sourceIDsAreStable: true,
                                           pages: pages([rows]))
                derived.append(try store.connection.query("SELECT flowpay_id FROM transactions WHERE customer_id = $1 ORDER BY source_tx_id",
                                                          [customerID]).map { try $0.decode(String.self, at: 0) })
            }
        }
        #expect(derived[0] == derived[1])
        #expect(Set(derived[0]).count == 2)
    }

    /// A source that reuses a stable id for a booking on another day (or of another amount): two bookings.
    @Test func aReusedStableIDIsASecondBooking() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let first = booked("2026-11-20", "-10.00", id: "r-1")
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true, pages: pages([[first]]))
            let reuse = booked("2026-11-22", "-30.00", "something else", id: "r-1")
            let result = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                                        pages: pages([[first, reuse]]))
            #expect(result.newBooked == 1)
            #expect(result.sourceIDsReused == 1)
            #expect(try fixture.count("source_tx_id = 'r-1' AND \(queuedSQL)") == 2)
            #expect(try fixture.store.connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'source_id_reused'") == 1)
        }
    }

    /// The bank corrects a booking under its stable id: a weekend booking re-dated to Monday, a card payment settled
    /// at its final FX amount. The stored row takes the new version, keeps its Flowpay id and goes back to the outbox
    /// (Flowpay upserts it by id); no second booking, no second id.
    @Test(arguments: [("2026-11-23", "-10.00"), ("2026-11-21", "-10.37")])
    func aBookingCorrectedUnderItsIDKeepsItsFlowpayID(day: String, amount: String) async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let original = booked("2026-11-21", "-10.00", "card EUR", id: "c-9"), other = booked("2026-11-20", "-3.00", id: "c-8")
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true, pages: pages([[original, other]]))
            try fixture.store.connection.execute(deliverAccountSQL, [fixture.account.id])
            try fixture.store.connection.execute("UPDATE watermarks SET booked_pushed = 2 WHERE account_id = $1", [fixture.account.id])
            let id = try #require(try flowpayIDs(fixture)["c-9"])
            let corrected = booked(day, amount, "card EUR", id: "c-9")
            let result = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                                        pages: pages([[corrected, other]]))
            #expect(result.corrected == 1 && result.newBooked == 0 && result.sourceIDsReused == 0 && result.held == 0)
            #expect(try fixture.count() == 2)
            #expect(try flowpayIDs(fixture)["c-9"] == id, "the same Flowpay id")
            let minor = try Money(parsing: amount, currency: czk).minorUnits
            #expect(try fixture.store.connection.queryValue(Int.self, """
                SELECT count(*) FROM transactions WHERE source_tx_id = 'c-9' AND booking_date = $1::date AND amount_minor = $2 AND \(queuedSQL)
                """, [day, minor]) == 1, "sent again with the new date and amount")
            #expect(try fixture.store.connection.queryValue(String.self, """
                SELECT booked_stored || '/' || booked_pushed FROM watermarks WHERE account_id = $1
                """, [fixture.account.id]) == "2/1")
            // Read again: settled.
            let again = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                                       pages: pages([[corrected, other]]))
            #expect(again.corrected == 0 && again.newBooked == 0 && again.duplicates == 2)
        }
    }

    /// The id's stored booking lies on a day this fetch did not cover: the bank may still report it (a reused id)
    /// or have corrected it. Held, not guessed; visible in lag.
    @Test func aPossibleCorrectionOutsideTheWindowIsHeld() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                               pages: pages([[booked("2026-11-02", "-10.00", id: "d-1")]]))
            let daily = SyncWindow(from: Day(iso: "2026-11-18")!, to: Day(iso: "2026-11-25")!, isFirstSync: false)
            let result = try await fixture.store.ingest(account: fixture.account, window: daily, sourceIDsAreStable: true,
                                                        pages: pages([[booked("2026-11-20", "-10.00", id: "d-1")]]))
            #expect(result.held == 1 && result.newBooked == 0 && result.corrected == 0)
            #expect(try fixture.store.heldTransactions().map(\.reason) == ["possible_correction"])
            #expect(try fixture.count("\(queuedSQL)") == 1, "only the first row, from the first ingest")
        }
    }

    /// Two new rows under one stored booking's stable id (a split, an id reused beside a correction): one takes the
    /// stored booking as its correction, the other is held — the account's ingest does not fail on it.
    @Test func twoNewRowsUnderOneCorrectedIDHoldTheSecond() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                               pages: pages([[booked("2026-11-20", "-100.00", id: "s-1")]]))
            try fixture.store.connection.execute(deliverAccountSQL, [fixture.account.id])
            let result = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: true,
                                                        pages: pages([[booked("2026-11-20", "-80.00", id: "s-1"), booked("2026-11-20", "-20.00", id: "s-1")]]))
            #expect(result.corrected == 1 && result.held == 1 && result.newBooked == 0)
            #expect(try fixture.count() == 2)
        }
    }

    /// Retention never deletes a held row: it may be the only copy of a booking Flowpay has not got.
    @Test func pruneKeepsHeldRows() async throws {
        try await TestDatabase.with { database in
            let fixture = try await IngestFixture.make(database)
            let a = booked("2026-11-20", "-9.99", "SHOP X"), b = booked("2026-11-20", "-9.99", "SHOP Y")
            _ = try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([[a]]))
            try fixture.store.connection.execute(deliverAccountSQL, [fixture.account.id])
            #expect(try await fixture.store.ingest(account: fixture.account, window: window, sourceIDsAreStable: false, pages: pages([[b]])).held == 1)
            _ = try fixture.store.prune(today: Day(iso: "2029-01-01")!, overlapDays: 7, batchSize: 100)
            #expect(try fixture.count() == 1, "the delivered row pruned, the held one kept")
            #expect(try fixture.store.heldTransactions().count == 1)
        }
    }

    func flowpayIDs(_ fixture: IngestFixture) throws -> [String: String] {
        var ids: [String: String] = [:]
        for row in try fixture.store.connection.query("SELECT source_tx_id, flowpay_id FROM transactions WHERE account_id = $1", [fixture.account.id]) {
            ids[try row.decode(String?.self, at: 0) ?? UUID().uuidString] = try row.decode(String.self, at: 1)
        }
        return ids
    }
}
