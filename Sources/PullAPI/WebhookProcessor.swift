import Flowpay
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Store
import Synchronization

/// Flowpay webhooks. `receive` verifies the signature and timestamp inline (an HMAC over a few hundred bytes)
/// before anything is queued or stored: an unsigned, forged or stale body is answered 200 like any other,
/// counted in `/metrics` (`banksync_webhooks_dropped{reason}`) and dropped, so nobody but Flowpay can fill the
/// queue, the memory or the database. Verified ones are processed after the answer: a replay (a signature
/// already recorded) is counted and dropped, a scoring event queues a priority sync of its customer, a
/// financing event looks its customer up at Flowpay first (the webhook alone is never trusted to name it).
public final class WebhookProcessor: Service, Sendable {
    public struct Received: Sendable {
        let body: [UInt8]
        let signature: String?
        let timestamp: String?
    }

    let pool: ConnectionPool
    let verifier: WebhookVerifier?
    let logger: Logger
    let dropLog = ThrottledLog()
    let stream: AsyncStream<Received>
    let continuation: AsyncStream<Received>.Continuation

    /// Looks a financing's customer up at Flowpay (nil: no Flowpay client configured).
    let financings: (@Sendable (UUID) async throws -> UUID)?

    public init(pool: ConnectionPool, verifier: WebhookVerifier?, logger: Logger,
                financings: (@Sendable (UUID) async throws -> UUID)? = nil) {
        self.pool = pool
        self.verifier = verifier
        self.logger = logger
        self.financings = financings
        (stream, continuation) = AsyncStream.makeStream(of: Received.self, bufferingPolicy: .bufferingNewest(1_000))   // ≤ 16 MiB of bodies
    }

    /// Queues a verified webhook; when the queue is full the oldest one is pushed out, counted and logged.
    func enqueue(_ webhook: Received) {
        if case .dropped = continuation.yield(webhook) { drop("queue_full", "the webhook queue is full (1,000): the oldest was dropped") }
    }

    /// Verifies a received webhook and queues it when it is Flowpay's; anything else is counted and dropped.
    func receive(_ webhook: Received) {
        guard let verifier else { return drop("not_configured", "FLOWPAY_WEBHOOK_SECRET is not configured") }
        do {
            try verifier.verify(body: webhook.body, timestamp: webhook.timestamp, signature: webhook.signature)
        } catch {
            let reason = switch error {
            case .missingHeaders: "unsigned"
            case .badTimestamp, .staleTimestamp: "stale"
            case .badSignature: "bad_signature"
            }
            return drop(reason, error.description)
        }
        enqueue(webhook)
    }

    /// Counts a dropped webhook; logs the first of each reason and then at most one line a minute with how many
    /// followed (a flood of forged webhooks must not become a flood of log lines).
    func drop(_ reason: String, _ detail: String) {
        Counter(label: "banksync_webhooks_dropped", dimensions: [("reason", reason)]).increment()
        guard let suppressed = dropLog.admit(reason) else { return }
        logger.warning("webhook dropped", metadata: ["reason": "\(detail)", "dropped_since_last_line": "\(suppressed)"])
    }

    public func run() async throws {
        // Finish the queue on shutdown: what was accepted is still processed.
        await withGracefulShutdownHandler {
            for await webhook in stream {
                do { try await process(webhook) } catch {
                    logger.error("webhook processing failed", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: { [continuation] in
            continuation.finish()
        }
    }

    /// A verified webhook: recorded once (a replay is dropped), then acted on.
    func process(_ webhook: Received) async throws {
        let payload = String(decoding: webhook.body, as: UTF8.self)
        let json = (try? JSONSerialization.jsonObject(with: Data(webhook.body))) as? [String: Any]
        let eventType = Self.eventType(json)
        let logger = logger
        let scoredCustomer = (json?["customerId"] as? String).flatMap(UUID.init(uuidString:))
        let financing = (json?["id"] as? String).flatMap(UUID.init(uuidString:))
        let recorded = try await pool.withStore { store in
            try store.recordWebhook(signature: webhook.signature, sentAt: webhook.timestamp, verified: true,
                                    failure: nil, eventType: eventType, payload: payload)
        }
        guard let id = recorded else { return drop("replay", "a signature already received (event \(eventType ?? "?"))") }
        switch eventType {
        case "scoring":
            guard let customer = scoredCustomer else { break }
            let known = try await pool.withStore { try $0.requestPrioritySync(flowpayCustomerID: customer, webhookID: id) }
            logger.info("scoring webhook", metadata: ["webhook": "\(id)", "customer": "\(customer)", "known": "\(known)"])
        case "financing":
            guard let financing else { break }
            try await lookUpFinancing(financing, webhookID: id)
        default:
            try await pool.withStore { try $0.setWebhookOutcome(id: id, "recorded") }
        }
    }

    /// A financing event names a financing, not a customer: its customer comes from Flowpay
    /// (`GET /partner-api/v1/financings/{id}`) and is synced first; a failed lookup is recorded on the webhook.
    func lookUpFinancing(_ financing: UUID, webhookID: Int64) async throws {
        guard let financings else {
            return try await pool.withStore { try $0.setWebhookOutcome(id: webhookID, "financing recorded; no Flowpay client to look it up") }
        }
        do {
            let customer = try await financings(financing)
            let known = try await pool.withStore { try $0.requestPrioritySync(flowpayCustomerID: customer, webhookID: webhookID) }
            logger.info("financing webhook", metadata: ["webhook": "\(webhookID)", "financing": "\(financing)", "customer": "\(customer)",
                                                         "known": "\(known)"])
        } catch {
            try await pool.withStore { try $0.setWebhookOutcome(id: webhookID, "financing lookup failed: \(error)") }
            logger.warning("financing lookup failed", metadata: ["webhook": "\(webhookID)", "error": "\(error)"])
        }
    }

    static func eventType(_ json: [String: Any]?) -> String? {
        guard let json else { return nil }
        if json["result"] != nil, json["customerId"] != nil { return "scoring" }
        if json["state"] != nil, json["effectiveAt"] != nil { return "financing" }
        return "other"
    }
}

/// At most one log line a minute per key; says how many were held back since the last one.
final class ThrottledLog: Sendable {
    private let state = Mutex<[String: (last: ContinuousClock.Instant, held: Int)]>([:])

    /// The number held back since the last line when a line may be written now; nil to hold this one back.
    func admit(_ key: String, every interval: Duration = .seconds(60)) -> Int? {
        state.withLock { entries in
            let now = ContinuousClock.now
            guard let entry = entries[key] else {
                entries[key] = (now, 0)
                return 0
            }
            guard entry.last.duration(to: now) >= interval else {
                entries[key] = (entry.last, entry.held + 1)
                return nil
            }
            entries[key] = (now, 0)
            return entry.held
        }
    }
}
