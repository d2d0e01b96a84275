import Flowpay
import Foundation
import Logging
import ServiceLifecycle
import Store

/// Processes Flowpay webhooks after the receiver has already answered 200: verifies the signature and
/// timestamp, refuses replays, records every webhook (verified or not) for ops, and queues a priority sync
/// for the customer a verified scoring event names.
public final class WebhookProcessor: Service, Sendable {
    public struct Received: Sendable {
        let body: [UInt8]
        let signature: String?
        let timestamp: String?
    }

    let pool: ConnectionPool
    let verifier: WebhookVerifier?
    let logger: Logger
    let stream: AsyncStream<Received>
    let continuation: AsyncStream<Received>.Continuation

    public init(pool: ConnectionPool, verifier: WebhookVerifier?, logger: Logger) {
        self.pool = pool
        self.verifier = verifier
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: Received.self, bufferingPolicy: .bufferingNewest(1_000))   // ≤ 16 MiB of bodies
    }

    func enqueue(_ webhook: Received) { continuation.yield(webhook) }

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

    func process(_ webhook: Received) async throws {
        let payload = String(decoding: webhook.body, as: UTF8.self)
        let json = (try? JSONSerialization.jsonObject(with: Data(webhook.body))) as? [String: Any]
        let eventType = Self.eventType(json)
        var failure: String?
        if let verifier {
            do { try verifier.verify(body: webhook.body, timestamp: webhook.timestamp, signature: webhook.signature) } catch {
                failure = error.description
            }
        } else {
            failure = "FLOWPAY_WEBHOOK_SECRET is not configured"
        }
        let verified = failure == nil
        let logger = logger
        let reason = failure
        let scoredCustomer = (json?["customerId"] as? String).flatMap(UUID.init(uuidString:))
        try await pool.withStore { store in
            guard let id = try store.recordWebhook(signature: webhook.signature, sentAt: webhook.timestamp, verified: verified,
                                                   failure: reason, eventType: eventType, payload: payload) else {
                try store.recordRejectedReplay(signature: webhook.signature, sentAt: webhook.timestamp, eventType: eventType, payload: payload)
                logger.warning("webhook replay refused", metadata: ["event": "\(eventType ?? "?")"])
                return
            }
            guard verified else {
                logger.warning("webhook not verified", metadata: ["webhook": "\(id)", "reason": "\(reason ?? "")"])
                return
            }
            switch eventType {
            case "scoring":
                if let customer = scoredCustomer {
                    let known = try store.requestPrioritySync(flowpayCustomerID: customer, webhookID: id)
                    logger.info("scoring webhook", metadata: ["webhook": "\(id)", "customer": "\(customer)", "known": "\(known)"])
                }
            case "financing":
                // The financing's customer must be looked up at Flowpay (GET /partner-api/v1/financings/{id});
                // the webhook alone is never trusted to name it.
                try store.setWebhookOutcome(id: id, "financing event recorded; customer lookup via GET /financings pending")
            default:
                try store.setWebhookOutcome(id: id, "recorded")
            }
        }
    }

    static func eventType(_ json: [String: Any]?) -> String? {
        guard let json else { return nil }
        if json["result"] != nil, json["customerId"] != nil { return "scoring" }
        if json["state"] != nil, json["effectiveAt"] != nil { return "financing" }
        return "other"
    }
}
