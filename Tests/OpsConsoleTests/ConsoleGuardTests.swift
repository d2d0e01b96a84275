import Foundation
import Testing
@testable import OpsConsole
import Store

/// The one gate in front of the console: default deny, roles, mode, same-origin, form token, trusted proxies.
@Suite struct ConsoleGuardTests {
    @Test func unlistedRoutesAreDeniedBeforeAnyHandler() {
        #expect(ConsoleAccess.of(.get, "/console") == .signedIn(.viewer))
        #expect(ConsoleAccess.of(.get, "/console/customers/abc") == .signedIn(.viewer))
        #expect(ConsoleAccess.of(.get, "/console/sign-in") == .open)
        #expect(ConsoleAccess.of(.post, "/console/actions/merge-held") == .action(.mergeHeld))
        #expect(ConsoleAccess.of(.post, "/console/actions/delete-everything") == nil)
        #expect(ConsoleAccess.of(.get, "/console/actions/sync-now") == nil)
        #expect(ConsoleAccess.of(.post, "/console/customers") == nil)
        #expect(ConsoleAccess.of(.delete, "/console") == nil)
        #expect(ConsoleAccess.of(.get, "/consoles") == nil)
        #expect(ConsoleAccess.of(.get, "/console/customers/a/b") == nil)
        #expect(ConsoleAccess.of(.get, "/metrics") == nil)
    }

    @Test func everyActionNeedsAtLeastAnOperator() {
        for action in ConsoleAction.allCases { #expect(action.role >= .operator) }
        #expect(ConsoleAction.mergeHeld.role == .approver && ConsoleAction.pauseCustomer.role == .approver)
    }

    @Test func htmlEscapesInterpolatedText() {
        let name = "<script>alert(\"x\")</script>&'"
        let html: HTML = "<p title=\"\(name)\">\(name)</p>"
        #expect(html.markup == "<p title=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;\">"
            + "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p>")
    }

    @Test func pagesNeedAnIdentityAndCarryTheSecurityHeaders() async throws {
        try await ConsoleHarness.with { console in
            let anonymous = try await console.get("/console/held")
            #expect(anonymous.status == 303 && anonymous.header("Location") == "/console/sign-in")
            let missing = try await console.get("/console/nothing", headers: ConsoleHarness.user("alice", "approver"))
            #expect(missing.status == 404)
            for answer in [anonymous, missing] {
                #expect(answer.header("Content-Security-Policy")?.hasPrefix("default-src 'none';") == true)
                #expect(answer.header("Referrer-Policy") == "no-referrer" && answer.header("Cache-Control") == "no-store")
                #expect(answer.header("X-Content-Type-Options") == "nosniff")
            }
            let page = try await console.get("/console/customers", headers: ConsoleHarness.user("vera", "viewer"))
            #expect(page.status == 200 && page.body.contains("merchant-&lt;b&gt;") && !page.body.contains("merchant-<b>"))
            let noRole = try await console.get("/console", headers: [("X-Forwarded-User", "mallory"), ("X-Forwarded-Groups", "staff")])
            #expect(noRole.status == 303)
        }
    }

    @Test func actionsNeedSameOriginRoleAndFormToken() async throws {
        try await ConsoleHarness.with { console in
            let customer = console.customer.uuidString.lowercased()
            let operatorUser = ConsoleHarness.user("olga", "operator")
            let token = try #require(try await console.formToken("/console/customers/\(customer)", headers: operatorUser))
            let form = ["customer": customer, "form_token": token]
            #expect(try await console.post("/console/actions/sync-now", form: form, headers: operatorUser).status == 403)   // no Origin
            #expect(try await console.post("/console/actions/sync-now", form: form, headers: operatorUser + [("Origin", "http://evil.example")]).status == 403)
            #expect(try await console.post("/console/actions/sync-now", form: form,
                                           headers: operatorUser + [("Origin", console.origin), ("Sec-Fetch-Site", "cross-site")]).status == 403)
            #expect(try await console.post("/console/actions/sync-now", form: ["customer": customer, "form_token": "forged"],
                                           headers: operatorUser + [("Origin", console.origin)]).status == 403)
            #expect(try await console.post("/console/actions/sync-now", form: form, headers: operatorUser + [("Sec-Fetch-Site", "same-origin")]).status == 200)
            // An operator may not pause (approver), a viewer may do nothing, whatever token they send.
            #expect(try await console.post("/console/actions/pause-customer", form: form.merging(["reason": "r", "confirm": "yes"]) { $1 },
                                           headers: operatorUser + [("Origin", console.origin)]).status == 403)
            #expect(try await console.post("/console/actions/sync-now", form: form,
                                           headers: ConsoleHarness.user("vera", "viewer") + [("Origin", console.origin)]).status == 403)
            let audit = try console.auditOutcomes()
            #expect(audit.filter { $0.outcome.hasPrefix("done") }.map(\.action) == ["sync-now"])
            #expect(audit.contains { $0.who == "vera" && $0.outcome.contains("needs the operator role") })
            #expect(audit.contains { $0.who == "olga" && $0.outcome.contains("needs the approver role") })
        }
    }

    @Test func readOnlyRefusesEveryActionEvenToAnApprover() async throws {
        try await ConsoleHarness.with(mode: .readOnly) { console in
            let approver = ConsoleHarness.user("alice", "approver")
            let page = try await console.get("/console/customers/\(console.customer.uuidString.lowercased())", headers: approver)
            #expect(page.status == 200 && !page.body.contains("/console/actions/"))
            for action in ConsoleAction.allCases {
                let answer = try await console.post("/console/actions/\(action.rawValue)", form: ["customer": console.customer.uuidString, "reason": "r"],
                                                    headers: approver + [("Origin", console.origin)])
                #expect(answer.status == 403, "\(action)")
            }
            #expect(try console.auditOutcomes().allSatisfy { $0.outcome.contains("read-only") })
        }
    }

    @Test func proxyHeadersFromAnUntrustedPeerNameNobodyAndTheKeyStartsASession() async throws {
        try await ConsoleHarness.with(trusted: nil) { console in
            #expect(try await console.get("/console", headers: ConsoleHarness.user("alice", "approver")).status == 303)
            let wrong = try await console.post("/console/sign-in", form: ["key": "guess"], headers: [("Origin", console.origin)])
            #expect(wrong.status == 401)
            let signIn = try await console.post("/console/sign-in", form: ["key": ConsoleHarness.key], headers: [("Origin", console.origin)])
            let cookie = try #require(signIn.header("Set-Cookie"))
            #expect(signIn.status == 303 && cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Strict"))
            let value = String(cookie.prefix { $0 != ";" })
            let home = try await console.get("/console", headers: [("Cookie", value)])
            #expect(home.status == 200 && home.body.contains("break-glass@"))
            // Only the digest is stored.
            let stored = try console.store.connection.queryValue(Int.self, "SELECT count(*) FROM console_sessions WHERE token_hash = sha256($1::bytea)",
                                                                [String(value.dropFirst("banksync_console=".count))])
            #expect(stored == 1)
        }
    }
}
