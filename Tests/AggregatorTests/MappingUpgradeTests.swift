import Aggregators
import BankSyncCore
import Foundation
import Logging
import Postgres
import Sandbox
import Store
@testable import SyncEngine
import Testing
import TestSupport

/// Stored rows keyed by an older mapping are mapped again from their raw JSON and re-keyed before a sync reads the
/// bank (MappingUpgrade): Flowpay ids and push state stay, a re-read matches by key, nothing is stored or sent twice.
@Suite struct MappingUpgradeTests: CustomerSyncing {
    /// Every row as an older mapping stored it: counterparties other than IBANs, structured remittance arrays and
    /// `valueDateTime` unread, content keys computed from those columns (as migration 0009 did), rows keyed by
    /// content under those keys, no mapping version.
    func storeAsAnOlderMappingDid(_ store: Store) throws {
        try store.connection.execute("""
            UPDATE transactions SET
                counterparty_iban = CASE WHEN raw::text LIKE '%"iban"%' THEN counterparty_iban END,
                remittance = CASE WHEN raw ? 'remittanceInformationStructuredArray' THEN NULL ELSE remittance END,
                value_date = CASE WHEN raw ? 'valueDateTime' THEN NULL ELSE value_date END,
                mapping_version = NULL
            """)
        try store.connection.execute("""
            WITH fingerprinted AS (
                SELECT account_id, tx_key, id, tx_key = content_key AS by_content,
                       sha256('\\x667000'::bytea
                              || convert_to(status, 'UTF8') || '\\x1f'::bytea
                              || convert_to(coalesce(to_char(booking_date, 'YYYY-MM-DD'), ''), 'UTF8') || '\\x1f'::bytea
                              || convert_to(coalesce(to_char(value_date, 'YYYY-MM-DD'), ''), 'UTF8') || '\\x1f'::bytea
                              || convert_to(amount_minor::text, 'UTF8') || '\\x1f'::bytea
                              || convert_to(currency, 'UTF8') || '\\x1f'::bytea
                              || convert_to(coalesce(counterparty_iban, ''), 'UTF8') || '\\x1f'::bytea
                              || convert_to(coalesce(counterparty_name, ''), 'UTF8') || '\\x1f'::bytea
                              || convert_to(coalesce(remittance, ''), 'UTF8') || '\\x1f'::bytea
                              || convert_to(coalesce(bank_tx_code, ''), 'UTF8')) AS fingerprint
                FROM transactions
            ), ordered AS (
                SELECT account_id, tx_key, by_content,
                       sha256(fingerprint || int4send(row_number() OVER (PARTITION BY account_id, fingerprint ORDER BY id)::integer)) AS content_key
                FROM fingerprinted
            )
            UPDATE transactions t SET content_key = o.content_key, tx_key = CASE WHEN o.by_content THEN o.content_key ELSE t.tx_key END
            FROM ordered o WHERE o.account_id = t.account_id AND o.tx_key = t.tx_key
            """)
        try store.connection.execute("UPDATE accounts SET mapping_version = NULL")
    }

    /// Row id → (key, content key, Flowpay id, push state).
    func rows(_ store: Store) throws -> [Int64: [String]] {
        var rows: [Int64: [String]] = [:]
        for row in try store.connection.query(
            "SELECT id, encode(tx_key, 'hex'), encode(content_key, 'hex'), flowpay_id, COALESCE(push_state, '-') FROM transactions") {
            rows[try row.decode(Int64.self, at: 0)] = try (1...4).map { try row.decode(String.self, at: $0) }
        }
        return rows
    }

    @Test(arguments: ["sandbox-req-fields-1", "sandbox-req-fields-2"])
    func rowsOfAnOlderMappingAreRekeyedFromTheirRawRowsAndNothingIsStoredTwice(requisition: String) async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m-map", source: .gocardless, sourceRef: requisition)
                #expect(try await sync(store, peers, customer).succeeded)
                #expect(try store.connection.queryValue(Int.self, "SELECT count(*) FROM transactions WHERE mapping_version = $1",
                                                        [TransactionMapping.version]) > 100, "new rows carry the mapping version")
                let current = try rows(store)
                try storeAsAnOlderMappingDid(store)
                let older = try rows(store)
                #expect(older.filter { current[$0.key]?[1] != $0.value[1] }.count > 20, "the older mapping keyed many rows otherwise")

                // Small batches: days are never split, every batch commits on its own.
                let summary = try await MappingUpgrade(store: store, batchRows: 10).run(customerID: customer, runID: nil)
                #expect(summary.collisions == 0 && summary.unmapped == 0)
                #expect(summary.remapped == current.count)
                #expect(try rows(store) == current, "keys as the current mapping computes them; Flowpay ids and push state kept")
                #expect(try store.connection.queryValue(Int.self, "SELECT count(*) FROM accounts WHERE mapping_version IS DISTINCT FROM $1",
                                                        [TransactionMapping.version]) == 0)

                let outcome = try await sync(store, peers, customer)
                #expect(outcome.succeeded && outcome.newTransactions == 0)
                #expect(try rows(store) == current, "the re-read matched every stored row by its key")
            }
        }
    }

    /// Run by the sync itself: the re-read finds every row under its new key.
    @Test func theSyncMapsOlderRowsAgainBeforeItReadsTheBank() async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m-map", source: .gocardless, sourceRef: "sandbox-req-fields-2")
                #expect(try await sync(store, peers, customer).succeeded)
                let current = try rows(store)
                try storeAsAnOlderMappingDid(store)
                let outcome = try await sync(store, peers, customer)
                #expect(outcome.succeeded && outcome.newTransactions == 0)
                #expect(try rows(store) == current)
                #expect(try store.connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'rows_remapped'") == 1)
                // The next sync costs one question: every account is of the current version.
                #expect(try store.accountsBehindMapping(customerID: customer, version: TransactionMapping.version).isEmpty)
            }
        }
    }

    /// A row without raw JSON keeps its key (recorded); a row whose new key another stored row holds keeps its key
    /// (recorded with both ids), never merged.
    @Test func rowsThatCannotBeMappedOrWouldCollideKeepTheirKeysAndAreRecorded() async throws {
        try await TestDatabase.with { database in
            try await SandboxPeers.with { peers in
                let store = try await migratedStore(database)
                let customer = try store.addCustomer(flowpayCustomerID: UUID(), merchantID: "m-map", source: .gocardless, sourceRef: "sandbox-req-fields-1")
                #expect(try await sync(store, peers, customer).succeeded)
                let ids = try store.connection.query(
                    "SELECT id FROM transactions WHERE status = 'booked' AND tx_key <> content_key ORDER BY id LIMIT 3").map { try $0.decode(Int64.self, at: 0) }
                // The second row claims the first's source id and raw row: mapped again, it would take the first's key.
                try store.connection.execute("""
                    UPDATE transactions t SET raw = s.raw, source_tx_id = s.source_tx_id FROM transactions s WHERE s.id = $1 AND t.id = $2
                    """, [ids[0], ids[1]])
                try store.connection.execute("UPDATE transactions SET raw = NULL WHERE id = $1", [ids[2]])
                try store.connection.execute("UPDATE transactions SET mapping_version = NULL")
                try store.connection.execute("UPDATE accounts SET mapping_version = NULL")
                let before = try rows(store)

                let summary = try await MappingUpgrade(store: store).run(customerID: customer, runID: nil)
                #expect(summary.collisions == 1)
                let after = try rows(store)
                #expect(after[ids[1]]?[0] == before[ids[1]]?[0], "the colliding row kept its key")
                #expect(after[ids[2]]?[0] == before[ids[2]]?[0], "the row without raw JSON kept its key")
                #expect(after.mapValues { $0[2] } == before.mapValues { $0[2] }, "every Flowpay id kept")
                let collision = try store.connection.queryValue(String.self, "SELECT message FROM sync_events WHERE code = 'remap_collision'")
                #expect(collision.contains(before[ids[1]]![2]) && collision.contains(before[ids[0]]![2]), "\(collision)")
                #expect(try store.connection.queryValue(Int.self, "SELECT count(*) FROM sync_events WHERE code = 'rows_not_remapped'") == 1)
            }
        }
    }
}
