import Flowpay
import Foundation
import Testing

@Suite struct WebhookVerifierTests {
    let body = Array(#"{"id":"5653fdfe-8b71-4c2d-b070-d0fda1d10000","state":"NEW","effectiveAt":"2023-06-30T12:05:28.466076Z"}"#.utf8)
    let timestamp = "2023-06-30T12:05:28.521071Z"
    let expected = "460d5701cb35f9dfc699423a76a952c747f32a6ccdf5da18f8f9955f03ebd8b7"
    let verifier = WebhookVerifier(secret: "secret")
    var then: Date { WebhookVerifier.parseInstant(timestamp)! }

    @Test func theContractsTestVector() throws {
        #expect(verifier.signature(body: body, timestamp: timestamp) == expected)
        try verifier.verify(body: body, timestamp: timestamp, signature: expected, now: then)
    }

    /// One spelling per signature: the upper-case (or mixed-case) form of a valid signature is refused, so a
    /// captured webhook cannot be replayed under another spelling of its signature (the replay key).
    @Test func onlyTheExactLowerCaseSignatureIsAccepted() {
        for spelling in [expected.uppercased(), "A" + expected.dropFirst(), " " + expected, expected + "00"] {
            #expect(throws: WebhookVerifier.Failure.badSignature) {
                try verifier.verify(body: body, timestamp: timestamp, signature: spelling, now: then)
            }
        }
    }

    @Test func aTamperedBodyOrSignatureIsRefused() {
        var tampered = body
        tampered[10] ^= 1
        #expect(throws: WebhookVerifier.Failure.badSignature) {
            try verifier.verify(body: tampered, timestamp: timestamp, signature: expected, now: then)
        }
        #expect(throws: WebhookVerifier.Failure.badSignature) {
            try verifier.verify(body: body, timestamp: timestamp, signature: String(expected.dropLast()) + "0", now: then)
        }
        #expect(throws: WebhookVerifier.Failure.badSignature) {
            try verifier.verify(body: body, timestamp: timestamp, signature: "zz", now: then)
        }
        #expect(throws: WebhookVerifier.Failure.badSignature) {
            try WebhookVerifier(secret: "other").verify(body: body, timestamp: timestamp, signature: expected, now: then)
        }
    }

    @Test func staleOrMissingTimestampsAreRefused() {
        #expect(throws: WebhookVerifier.Failure.staleTimestamp(timestamp)) {
            try verifier.verify(body: body, timestamp: timestamp, signature: expected, now: then.addingTimeInterval(301))
        }
        #expect(throws: WebhookVerifier.Failure.missingHeaders) {
            try verifier.verify(body: body, timestamp: nil, signature: expected, now: then)
        }
        #expect(throws: WebhookVerifier.Failure.badTimestamp("yesterday")) {
            try verifier.verify(body: body, timestamp: "yesterday", signature: expected, now: then)
        }
    }
}
