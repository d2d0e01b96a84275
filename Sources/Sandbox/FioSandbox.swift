import BankSyncCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Fio banka's API Bankovnictví (`/v1/rest/periods/{token}/{from}/{to}/transactions.json`) over deterministic
/// synthetic accounts, with Fio's rules: one call per token per `interval` (a faster one gets 409), 500 for a
/// token it does not know, 422 for history older than 90 days unless the holder authorised it within the last
/// 10 minutes (`POST /_sandbox/fio/authorise/{token}`). Movements come as Fio writes them: `columnN: {value, name,
/// id}` or `null`, dates with an offset, card payments (some abroad, with the original amount in `column18`),
/// the monthly fee, incoming payments with a variable symbol, outgoing transfers.
///
/// It keeps its own log of every call's arrival per token (`calls(of:)`, `shortestGap(of:)`), so tests
/// assert the 30-second rule on the bank's side. Faults for tests: the next answer cut short, a column null in
/// every movement.
public actor FioSandboxState {
    struct Account {
        let accountID: String
        let seed: UInt64
    }

    var accounts: [String: Account] = [:]
    var lastCall: [String: ContinuousClock.Instant] = [:]
    var callLog: [String: [(at: ContinuousClock.Instant, status: Int)]] = [:]
    var authorisedUntil: [String: ContinuousClock.Instant] = [:]
    var truncateNext: Set<String> = []
    var nullColumn: Int?
    var unlockedDays = 90
    var today: Day?
    public var interval: Duration

    public init(interval: Duration = .seconds(30), today: Day? = nil) {
        self.interval = interval
        self.today = today
    }

    var currentDay: Day { today ?? todayUTC() }

    public func setToday(_ day: Day?) { today = day }

    /// Changes the interval (a test makes the bank stricter than BankSync's setting, as another tool's call would).
    public func setInterval(_ interval: Duration) { self.interval = interval }

    /// A token for a synthetic account (`accountID` at Fio, bank 2010).
    public func addAccount(token: String, accountID: String, seed: UInt64) {
        accounts[token] = Account(accountID: accountID, seed: seed)
    }

    /// The demo's account, token `sandbox-fio-token`.
    public func seedDemo() {
        addAccount(token: Self.demoToken, accountID: "2900233061", seed: 33)
    }

    public static let demoToken = "sandboxFioToken0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"

    /// The holder authorised history beyond 90 days in Internetbanking: valid 10 minutes.
    public func authorise(token: String) -> Bool {
        guard accounts[token] != nil else { return false }
        authorisedUntil[token] = .now + .seconds(600)
        return true
    }

    public func truncateNextAnswer(token: String) { truncateNext.insert(token) }
    public func setNullColumn(_ column: Int?) { nullColumn = column }

    /// Every call for `token`: seconds since the first one, and the status answered.
    public func calls(of token: String) -> [(offset: Duration, status: Int)] {
        guard let first = callLog[token]?.first?.at else { return [] }
        return (callLog[token] ?? []).map { (first.duration(to: $0.at), $0.status) }
    }

    /// The shortest gap between two calls for `token` that Fio would have counted (nil: fewer than two calls).
    public func shortestGap(of token: String) -> Duration? {
        let times = (callLog[token] ?? []).map(\.at)
        guard times.count >= 2 else { return nil }
        return zip(times, times.dropFirst()).map { $0.duration(to: $1) }.min()
    }

    /// Answers one `periods` call: (status, body bytes, cut short).
    func periods(token: String, from fromText: String, to toText: String) -> (status: Int, body: [UInt8], cut: Bool) {
        let now = ContinuousClock.now
        func answer(_ status: Int, _ body: String) -> (status: Int, body: [UInt8], cut: Bool) {
            callLog[token, default: []].append((now, status))
            return (status, Array(body.utf8), false)
        }
        guard let account = accounts[token] else { return answer(500, "") }
        if let last = lastCall[token], last.duration(to: now) < interval { return answer(409, "") }
        lastCall[token] = now
        guard let from = Day(iso: fromText), let to = Day(iso: toText), from <= to else { return answer(400, "") }
        let authorised = (authorisedUntil[token] ?? now) > now
        if from < currentDay.adding(days: -unlockedDays), !authorised {
            return answer(422, #"{"error":"Pro stažení pohybů starších než 90 dní je nutná silná autorizace v Internetbankingu."}"#)
        }
        var body = statement(account, from: from, to: min(to, currentDay))
        callLog[token, default: []].append((now, 200))
        if truncateNext.remove(token) != nil {
            body = String(body.prefix(body.count / 2))
            return (200, Array(body.utf8), true)
        }
        return (200, Array(body.utf8), false)
    }

    /// Movements booked on `from`…`to` (tests count what a correct sync stores).
    public func movementCount(token: String, from: Day, to: Day) -> Int {
        guard let account = accounts[token] else { return 0 }
        var count = 0
        var day = from
        while day <= to {
            count += movements(account, on: day).count
            day = day.adding(days: 1)
        }
        return count
    }

    /// Days Fio gives without an authorisation (90; fewer to make a test's ordinary call meet the lock).
    public func setUnlockedDays(_ days: Int) { unlockedDays = days }

    struct Movement {
        let id: Int64
        let day: Day
        let amountMinor: Int64
        var columns: [Int: String]   // column number → JSON value text
    }

    /// The account's movements booked on `day`, the same every time.
    func movements(_ account: Account, on day: Day) -> [Movement] {
        var random = SandboxRandom(seed: account.seed &* 0x2545_F491_4F6C_DD1D ^ UInt64(bitPattern: Int64(day.daysSinceEpoch)))
        var result: [Movement] = []
        func id(_ index: Int) -> Int64 { 20_000_000_000 + Int64(account.seed % 1000) * 100_000_000 + Int64(day.daysSinceEpoch) * 10 + Int64(index) }
        if day.civil.day == 1 {
            result.append(Movement(id: id(0), day: day, amountMinor: -9_900, columns: [8: q("Poplatek"), 16: q("Poplatek za vedení účtu")]))
        }
        for slot in 0..<Int(random.next() % 4) {
            let index = slot + 1
            let kind = random.next() % 4
            switch kind {
            case 0:   // incoming payment with a variable symbol
                let minor = Int64(10_000 + random.next() % 5_000_000)
                let vs = "\(2_026_000 + random.next() % 9_000)"
                result.append(Movement(id: id(index), day: day, amountMinor: minor, columns: [
                    2: q("19-2000145399"), 3: q("0800"), 4: q("0308"), 5: q(vs), 8: q("Bezhotovostní příjem"),
                    10: q("ACME Distribution s.r.o."), 12: q("Česká spořitelna, a.s."), 16: q("Faktura \(vs)"), 17: "\(30_000_000_000 + Int64(index))",
                    26: q("GIBACZPX")]))
            case 1:   // card payment, a third of them abroad (the original amount in column18)
                let abroad = random.next() % 3 == 0
                let minor = -Int64(5_000 + random.next() % 300_000)
                var columns: [Int: String] = [7: q("Nákup: ALBERT VAM DEKUJE, Praha, dne \(day)"), 8: q("Platba kartou"), 9: q("Novák, Jan")]
                if abroad {
                    columns[7] = q("Nákup: AMAZON EU, Luxembourg, dne \(day)")
                    columns[18] = q("\(abs(minor) / 2_500).\(String(format: "%02lld", (abs(minor) / 25) % 100)) EUR")
                }
                result.append(Movement(id: id(index), day: day, amountMinor: minor, columns: columns))
            default:  // outgoing transfer to another Czech bank
                let minor = -Int64(10_000 + random.next() % 2_000_000)
                result.append(Movement(id: id(index), day: day, amountMinor: minor, columns: [
                    2: q("168540115"), 3: q("0600"), 5: q("\(1_000 + random.next() % 9_000)"), 8: q("Bezhotovostní platba"),
                    10: q("ČEZ a.s."), 16: q("Záloha elektřina"), 17: "\(31_000_000_000 + Int64(day.daysSinceEpoch))"]))
            }
        }
        return result
    }

    static let columnNames: [Int: String] = [
        0: "Datum", 1: "Objem", 2: "Protiúčet", 3: "Kód banky", 4: "KS", 5: "VS", 6: "SS", 7: "Uživatelská identifikace", 8: "Typ",
        9: "Provedl", 10: "Název protiúčtu", 12: "Název banky", 14: "Měna", 16: "Zpráva pro příjemce", 17: "ID pokynu",
        18: "Upřesnění", 22: "ID pohybu", 25: "Komentář", 26: "BIC",
    ]

    /// The columns a movement has, in Fio's numbering.
    public static var columnNumbers: [Int] { columnNames.keys.sorted() }

    func q(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static func amount(_ minor: Int64) -> String {
        let sign = minor < 0 ? "-" : ""
        let magnitude = abs(minor)
        return "\(sign)\(magnitude / 100).\(magnitude % 100 < 10 ? "0" : "")\(magnitude % 100)"
    }

    /// The balance at the end of `day`: a fixed start (2019-04-13) plus every movement since, whatever today is.
    func balance(_ account: Account, endOf day: Day) -> Int64 {
        var total: Int64 = 50_000_000
        var cursor = Day(daysSinceEpoch: 18_000)
        while cursor <= day {
            total += movements(account, on: cursor).reduce(0) { $0 + $1.amountMinor }
            cursor = cursor.adding(days: 1)
        }
        return total
    }

    func statement(_ account: Account, from: Day, to: Day) -> String {
        var rows: [String] = []
        var day = from
        let offset = "+0100"
        while day <= to {
            for movement in movements(account, on: day) {
                var columns = movement.columns
                columns[0] = q("\(day)\(offset)")
                columns[1] = Self.amount(movement.amountMinor)
                columns[14] = q("CZK")
                columns[22] = "\(movement.id)"
                if let nullColumn { columns[nullColumn] = nil }
                let cells = Self.columnNames.keys.sorted().map { number -> String in
                    guard let value = columns[number] else { return "\"column\(number)\":null" }
                    return "\"column\(number)\":{\"value\":\(value),\"name\":\(q(Self.columnNames[number] ?? "")),\"id\":\(number)}"
                }
                rows.append("{" + cells.joined(separator: ",") + "}")
            }
            day = day.adding(days: 1)
        }
        let opening = balance(account, endOf: from.adding(days: -1))
        let closing = balance(account, endOf: to)
        let iban = CzechIBAN.from(accountNumber: account.accountID, bankCode: "2010") ?? ""
        let info = """
            {"accountId":\(q(account.accountID)),"bankId":"2010","currency":"CZK","iban":\(q(iban)),"bic":"FIOBCZPPXXX",\
            "openingBalance":\(Self.amount(opening)),"closingBalance":\(Self.amount(closing)),"dateStart":\(q("\(from)\(offset)")),\
            "dateEnd":\(q("\(to)\(offset)")),"yearList":null,"idList":null,"idFrom":null,"idTo":null,"idLastDownload":null}
            """
        return #"{"accountStatement":{"info":"# + info + #","transactionList":{"transaction":["# + rows.joined(separator: ",") + "]}}}"
    }
}

public enum FioSandbox {
    /// Fio's paths under `/v1/rest`, plus the sandbox's controls under `/_sandbox/fio`.
    public static func router(state: FioSandboxState) -> Router<SandboxContext> {
        let router = Router(context: SandboxContext.self)
        router.get("/v1/rest/periods/{token}/{from}/{to}/transactions.json") { _, context -> Response in
            let (status, body, cut) = await state.periods(token: context.parameters.get("token") ?? "",
                                                          from: context.parameters.get("from") ?? "", to: context.parameters.get("to") ?? "")
            // A cut answer (a truncated body) arrives as what it is: the first half of the document, its length honest.
            _ = cut
            return Response.json(HTTPResponse.Status(code: status), body)
        }
        router.post("/_sandbox/fio/authorise/{token}") { _, context -> Response in
            await state.authorise(token: context.parameters.get("token") ?? "") ? Response(status: .noContent) : Response(status: .notFound)
        }
        return router
    }
}
