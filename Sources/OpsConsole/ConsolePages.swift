import BankSyncCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Store

/// The console's page frame and the pieces every screen uses. Every page is complete without the script.
enum ConsolePages {
    enum Section: String, CaseIterable {
        case attention = "/console", customers = "/console/customers", held = "/console/held", refused = "/console/refused",
             consents = "/console/consents", audit = "/console/audit"

        var title: String {
            switch self {
            case .attention: "Needs attention"
            case .customers: "Customers"
            case .held: "Held rows"
            case .refused: "Refused & unreadable"
            case .consents: "Consents"
            case .audit: "Audit log"
            }
        }
    }

    /// What a page needs to know about the request: who asks, the mode, now.
    struct Frame {
        var identity: ConsoleIdentity
        var mode: ConsoleSettings.Mode
        var now = Date()

        /// Whether this identity may take `action` here (the guard checks again on POST; this only hides buttons).
        func may(_ action: ConsoleAction) -> Bool { mode == .operate && identity.role >= action.role }
    }

    static func page(_ title: String, section: Section?, frame: Frame?, status: HTTPResponse.Status = .ok, _ body: HTML) -> Response {
        let nav: HTML = frame == nil ? "" : """
            <nav aria-label="Console sections"><ul>\(Section.allCases.map { item -> HTML in
                item == section ? "<li><a href=\"\(item.rawValue)\" aria-current=\"page\">\(item.title)</a></li>"
                    : "<li><a href=\"\(item.rawValue)\">\(item.title)</a></li>"
            })</ul></nav>
            """
        let who: HTML = frame.map { frame in
            """
            <div class="who"><p>Signed in as <strong>\(frame.identity.who)</strong> · role <strong>\(frame.identity.role.rawValue)</strong> \
            · console <strong>\(frame.mode.rawValue)</strong></p>\(frame.identity.via == .session ? """
            <form method="post" action="/console/sign-out"><input type="hidden" name="form_token" value="\(frame.identity.formToken)">\
            <button type="submit">Sign out</button></form>
            """ as HTML : "")</div>
            """
        } ?? ""
        let document: HTML = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · BankSync ops console</title><link rel="icon" href="data:,">
            <link rel="stylesheet" href="/console/assets/console.css"><script src="/console/assets/console.js" defer></script></head>
            <body><a class="skip" href="#main">Skip to content</a>
            <header><p class="brand">BankSync ops console</p>\(nav)\(who)</header>
            <main id="main" tabindex="-1"><h1>\(title)</h1>
            \(body)
            </main></body></html>
            """
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: document.markup)))
    }

    static func error(status: HTTPResponse.Status, message: String) -> Response {
        page("\(status.code) \(status.reasonPhrase)", section: nil, frame: nil, status: status,
             "<p class=\"message\">\(message)</p><p><a href=\"/console\">Back to the console</a></p>")
    }

    /// A table with its caption and column headers (`scope="col"`); the first cell of each row is its header
    /// (`scope="row"`). Wrapped in a focusable, labelled region so a narrow screen can scroll it by keyboard.
    static func table(_ caption: String, columns: [String], rows: [[HTML]], empty: String) -> HTML {
        guard !rows.isEmpty else { return "<p class=\"empty\">\(caption): \(empty)</p>" }
        let head = columns.map { column -> HTML in "<th scope=\"col\">\(column)</th>" }
        let body = rows.map { cells -> HTML in
            let first: HTML = cells.first.map { "<th scope=\"row\">\($0)</th>" } ?? ""
            return "<tr>\(first)\(cells.dropFirst().map { cell -> HTML in "<td>\(cell)</td>" })</tr>"
        }
        return """
            <div class="scroll" role="region" aria-label="\(caption)" tabindex="0"><table><caption>\(caption)</caption>
            <thead><tr>\(head)</tr></thead><tbody>\(body)</tbody></table></div>
            """
    }

    /// A status as a word, coloured as well (never by colour only).
    static func status(_ word: String) -> HTML {
        let tone = switch word {
        case "ok", "reconciled", "active", "done": "good"
        case "waiting", "paused", "held", "-": "neutral"
        default: "bad"
        }
        return "<span class=\"status \(tone)\">\(word)</span>"
    }

    static func amount(_ minor: Int64?, _ currency: String?) -> HTML {
        guard let minor else { return "-" }
        return "<span class=\"amount\">\(Reconciliation.minorText(minor)) \(currency ?? "")</span>"
    }

    /// Text to copy (a command, an id): always shown; the script adds a copy button beside it.
    static func copyable(_ text: String) -> HTML { "<code class=\"copy\">\(text)</code>" }

    /// A POST form for one action, only when the identity may take it here. `fields` are shown inputs
    /// (a required reason where the action needs one); an action that cannot be undone adds a required confirmation checkbox.
    static func actionForm(_ action: ConsoleAction, frame: Frame, target: String, back: String) -> HTML {
        guard frame.may(action) else { return "" }
        let id = "\(action.rawValue)-" + String(target.map { $0.isLetter || $0.isNumber ? $0 : "-" })
        let reason: HTML = action.needsReason ? """
            <label for="reason-\(id)">Reason for \(action.title.lowercased())</label>\
            <input id="reason-\(id)" name="reason" type="text" required maxlength="500" autocomplete="off">
            """ : ""
        let confirmation: HTML = action.confirmation.map { text in
            "<label class=\"confirm\"><input type=\"checkbox\" name=\"\(action.confirmField(target: target))\" value=\"yes\" required> \(text)</label>"
        } ?? ""
        return """
            <form method="post" action="/console/actions/\(action.rawValue)" class="action">\
            <input type="hidden" name="form_token" value="\(frame.identity.formToken)">\
            <input type="hidden" name="\(action.targetField)" value="\(target)"><input type="hidden" name="back" value="\(back)">\
            \(reason)\(confirmation)<button type="submit">\(action.title)</button></form>
            """
    }

    static func link(_ href: String, _ text: String) -> HTML { "<a href=\"\(href)\">\(text)</a>" }

    static func customerLink(_ id: UUID, _ merchant: String) -> HTML {
        link("/console/customers/\(id.uuidString.lowercased())", merchant)
    }

    static func signIn(message: String?, keyConfigured: Bool) -> Response {
        let note: HTML = message.map { "<p class=\"message\" role=\"alert\">\($0)</p>" } ?? ""
        let form: HTML = keyConfigured ? """
            <form method="post" action="/console/sign-in" class="sign-in">
            <label for="key">Console API key (break-glass)</label>
            <input id="key" name="key" type="password" required autocomplete="current-password">
            <button type="submit">Sign in</button></form>
            """ : "<p>No break-glass key is configured (BANKSYNC_CONSOLE_KEY): sign in through the single sign-on proxy.</p>"
        return page("Sign in", section: nil, frame: nil, """
            \(note)<p>The console is normally reached through the single sign-on proxy, which signs you in.</p>
            \(form)
            """)
    }
}
