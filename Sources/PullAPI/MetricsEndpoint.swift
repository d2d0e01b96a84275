import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import Store
import NIOCore
import Synchronization

/// `/metrics`: refreshes the gauges that come from the database (sync lag and consent days per customer,
/// transactions stored/pushed/queued, rejected batches, push latency; a removed customer's gauges are
/// destroyed), then hands the exposition text from the metrics backend the executable bootstrapped
/// (swift-prometheus). HTTP latency by route and status is
/// recorded by Hummingbird's MetricsMiddleware on every request.
public struct MetricsEndpoint: Sendable {
    let pool: ConnectionPool
    let exposition: @Sendable () -> [UInt8]
    let logger: Logger
    /// Merchants that have per-merchant gauges, so a removed customer's series disappear from the exposition.
    let reported = ReportedMerchants()

    public init(pool: ConnectionPool, logger: Logger, exposition: @escaping @Sendable () -> [UInt8]) {
        self.pool = pool
        self.logger = logger
        self.exposition = exposition
    }

    /// The metrics listener's own router (`BANKSYNC_METRICS_LISTEN`, loopback by default): `/metrics` names
    /// every merchant (the partner's client list) and costs a database read, so it is never on the public
    /// listener. With `schemaWatch`, it also answers `/readyz` with the reason (the schema versions when they differ).
    public func router(schemaWatch: SchemaWatch? = nil) -> Router<PullAPIContext> {
        let router = Router(context: PullAPIContext.self)
        register(on: router)
        var served: [String: [HTTPRequest.Method]] = ["/metrics": [.get]]
        if let schemaWatch {
            schemaWatch.registerDetailedReadiness(on: router)
            served["/readyz"] = [.get]
        }
        router.add(middleware: MethodNotAllowedMiddleware(served: served, logger: logger))
        return router
    }

    func register(on router: Router<PullAPIContext>) {
        router.get("/metrics") { _, _ -> Response in
            await refreshDatabaseGauges()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: exposition())))
        }
    }

    /// A scrape while the database is unreachable still answers (HTTP figures), says so in
    /// `banksync_database_up`, and leaves the database gauges at their last values.
    func refreshDatabaseGauges() async {
        let figures: StoredFigures
        do {
            figures = try await pool.withReadStore { try $0.storedFigures() }
        } catch {
            Gauge(label: "banksync_database_up").record(0)
            logger.warning("metrics: database figures unavailable", metadata: ["problem": "\(error)"])
            return
        }
        Gauge(label: "banksync_database_up").record(1)
        Gauge(label: "banksync_transactions_stored").record(figures.transactionsStored)
        Gauge(label: "banksync_transactions_pushed").record(figures.transactionsPushed)
        Gauge(label: "banksync_transactions_waiting_to_push").record(figures.transactionsQueued)
        Gauge(label: "banksync_transactions_unsendable").record(figures.transactionsUnsendable)
        Gauge(label: "banksync_outbox_oldest_queued_seconds").record(figures.oldestQueuedSeconds)
        Gauge(label: "banksync_push_batches_rejected").record(figures.batchesRejected)
        Gauge(label: "banksync_push_batches_parked").record(figures.batchesParked)
        // Every known reason is exposed, 0 when no customer has it, so alert rules always find their series.
        for reason in reported.reasons(adding: figures.customersInterrupted.keys) {
            Gauge(label: "banksync_customers_interrupted", dimensions: [("reason", reason)]).record(figures.customersInterrupted[reason] ?? 0)
        }
        // The bank's balances against the stored bookings: accounts that disagree, and by how much per currency
        // (major units; every reconciled currency has two decimals).
        Gauge(label: "banksync_accounts_unreconciled").record(figures.accountsUnreconciled)
        Gauge(label: "banksync_accounts_not_reconcilable").record(figures.accountsNotReconcilable)
        for (currency, minor) in figures.reconciliationDifferenceMinor {
            Gauge(label: Self.differenceLabel, dimensions: [("currency", currency)]).record(Double(minor) / 100)
        }
        // A currency no active account reconciles any more (its accounts closed or removed) leaves the exposition,
        // rather than repeating its last difference for ever.
        for currency in reported.replace(currencies: Set(figures.reconciliationDifferenceMinor.keys)) {
            Gauge(label: Self.differenceLabel, dimensions: [("currency", currency)]).destroy()
        }
        Gauge(label: "banksync_transactions_edited").record(figures.transactionsEdited)
        Gauge(label: "banksync_transactions_quarantined").record(figures.transactionsQuarantined)
        Gauge(label: "banksync_late_bookings").record(figures.lateBookings)
        Gauge(label: "banksync_source_ids_reused").record(figures.sourceIDsReused)
        Gauge(label: "banksync_push_latency_seconds", dimensions: [("quantile", "0.5")]).record(figures.pushLatencyP50)
        Gauge(label: "banksync_push_latency_seconds", dimensions: [("quantile", "0.99")]).record(figures.pushLatencyP99)
        var lag: Set<String> = []
        var consent: Set<String> = []
        for customer in figures.customers {
            Gauge(label: Self.lagLabel, dimensions: [("merchant", customer.merchantID)]).record(customer.lagSeconds)
            lag.insert(customer.merchantID)
            if let days = customer.consentDaysLeft {
                Gauge(label: Self.consentLabel, dimensions: [("merchant", customer.merchantID)]).record(days)
                consent.insert(customer.merchantID)
            }
        }
        let gone = reported.replace(lag: lag, consent: consent)
        for merchant in gone.lag { Gauge(label: Self.lagLabel, dimensions: [("merchant", merchant)]).destroy() }
        for merchant in gone.consent { Gauge(label: Self.consentLabel, dimensions: [("merchant", merchant)]).destroy() }
    }

    static let lagLabel = "banksync_sync_lag_seconds"
    static let consentLabel = "banksync_consent_days_left"
    static let differenceLabel = "banksync_reconciliation_difference"
}

/// The merchants and reconciliation currencies of the last refresh, per gauge, and the interruption reasons ever reported.
final class ReportedMerchants: Sendable {
    private let merchants = Mutex<(lag: Set<String>, consent: Set<String>)>(([], []))
    private let differenceCurrencies = Mutex<Set<String>>([])
    private let interruptionReasons = Mutex<Set<String>>([
        "consent_expired", "consent_pending", "bank_unavailable", "rate_limited", "source_unauthorised", "malformed_data",
        "unreadable_rows", "rejected", "batch_parked", "flowpay_unavailable", "sync_failed", "ingest_failed", "held",
        "agreement_scope", "agreement_invalid", "account_forbidden", "resource_unavailable", "unreconciled",
    ])

    /// The reasons to expose: the known ones and every one seen since the server started (a cleared reason reads 0).
    func reasons(adding seen: some Sequence<String>) -> [String] {
        interruptionReasons.withLock { reasons in
            reasons.formUnion(seen)
            return reasons.sorted()
        }
    }

    /// Records this refresh's merchants and returns those the previous refresh had and this one has not.
    func replace(lag: Set<String>, consent: Set<String>) -> (lag: Set<String>, consent: Set<String>) {
        merchants.withLock { previous in
            defer { previous = (lag, consent) }
            return (previous.lag.subtracting(lag), previous.consent.subtracting(consent))
        }
    }

    /// Records this refresh's reconciliation currencies and returns those the previous refresh had and this one has not.
    func replace(currencies: Set<String>) -> Set<String> {
        differenceCurrencies.withLock { previous in
            defer { previous = currencies }
            return previous.subtracting(currencies)
        }
    }
}
