import BankSyncCore
import Foundation
import Sandbox
import Testing
import TestSupport

/// GoCardless's consent-side 403s, told apart by their `type`: each is its own interruption with its own next
/// step in `lag --interruptions`, never "our credentials refused" (which sends ops to the secrets and the QWAC).
@Suite struct AccountRefusalTests {
    static let refusals: [(type: String, scope: String, reason: String, nextStep: String)] = [
        ("AccountEUAScopeError", "details", "agreement_scope", "a new agreement"),
        ("AccountValidEUAError", "balances", "agreement_invalid", "a new agreement"),
        ("AccountAccessForbidden", "balances", "account_forbidden", "re-link"),
        ("AccountResourceUnavailable", "balances", "resource_unavailable", "does not offer"),
    ]

    @Test func consentSide403sAreClassifiedByTheirTypeWithTheirOwnNextStep() async throws {
        try await EndToEnd.with { e2e in
            var customers: [UUID] = []
            for (index, refusal) in Self.refusals.enumerated() {
                let (customer, accounts) = try await e2e.addGoCardlessCustomer(requisition: "refusal-req-\(index)", accounts: 2,
                                                                             merchant: "refusal-\(index)")
                customers.append(customer)
                let control: [String: Any] = ["faultAccount": accounts[0], "faultScope": refusal.scope, "faultStatus": 403, "faultType": refusal.type]
                _ = await e2e.goCardless.apply(try JSONDecoder().decode(GoCardlessSandboxState.Control.self,
                                                                         from: try JSONSerialization.data(withJSONObject: control)))
            }
            let run = try await e2e.run(["sync"])
            #expect(run.status != 0, "the refusals are reported")
            let report = try await e2e.run(["lag", "--interruptions", "--format", "json"])
            #expect(report.status == 0, "\(report.stderr)")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [[String: Any]])
            #expect(!rows.contains { $0["reason"] as? String == "source_unauthorised" }, "\(report.stdout)")
            for (customer, refusal) in zip(customers, Self.refusals) {
                let row = rows.first { $0["flowpayCustomerId"] as? String == customer.uuidString.lowercased() }
                #expect(row?["reason"] as? String == refusal.reason, "\(refusal.type): \(report.stdout)")
                #expect((row?["nextStep"] as? String)?.contains(refusal.nextStep) == true, "\(refusal.type): \(row?["nextStep"] ?? "-")")
            }
            // Each customer's other account was read and stored all the same.
            let connection = try e2e.connect()
            defer { connection.close() }
            #expect(try connection.queryValue(Int.self, "SELECT count(*) FROM watermarks WHERE booked_through IS NOT NULL") == 8)
        }
    }
}
