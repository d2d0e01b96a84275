import BankSyncCore
import Foundation

/// A deterministic synthetic bank account: the same seed and day always give the same transactions, so
/// the demo and the tests can predict exactly what a correct sync stores.
///
/// Per booking day 0–3 transactions; about 1 in 7 books up to 5 days late (back-dated: visible only
/// later); about 1 in 20 has an identical twin the same day; about 1 in 5 is first visible as pending for a
/// day or two, dated a day earlier than its booking. On the first of each month the bank books its account fee:
/// the same amount and text on every account of the bank's currency, with no counterparty and no id.
/// Dates and accounts come as banks really send them: about 1 booking in 29 carries only `bookingDateTime`,
/// about 1 in 31 only `valueDate` (no `bookingDate`), and about 1 in 3 counterparties a Czech domestic
/// number (`bban`, `192000145399/0800`) instead of an IBAN — chosen by amount, so twins look alike.
///
/// `idSalt` changes every transaction id and nothing else: the same bookings as another consent (a renewed
/// GoCardless requisition issues new `internalTransactionId`s for the same bookings).
public struct SyntheticBank: Sendable {
    public struct Transaction: Sendable {
        public let bookingDay: Day
        public let visibleFrom: Day
        public let pendingFrom: Day?
        public let amountMinor: Int64
        public let counterpartyName: String
        public let counterpartyIBAN: String
        public let remittance: String
        public let internalID: String
        /// The bank's own account fee: no counterparty, no id.
        public var isFee = false
    }

    public static let feeText = "Poplatek za vedení účtu"

    public let seed: UInt64
    public let currency: String
    public let withIDs: Bool
    public let idSalt: UInt64
    /// Bookings a day when set (a dense account for benchmarks: 274 a day is 200,000 in a 730-day window);
    /// otherwise 0–3, at random.
    public let dailyTransactions: Int?
    /// How the bookings are written: as an aggregator does, or as the bank's own Berlin Group API does for the same
    /// bookings (counterparties always as IBANs, the text as an array of parts, its own bank codes, no value date).
    public var dialect: Dialect = .aggregator

    /// `everyField`: as an aggregator, with every shape GoCardless's published TransactionSchema allows for what the
    /// mapping reads — counterparties as `bban` (`19-2000145399/0800`), `other.identification` or `maskedPan`, the
    /// text as `remittanceInformationStructuredArray`, `valueDateTime` instead of `valueDate` — and always a
    /// `bookingDate` (what the 0008-era releases needed: the upgrade fixture is made by one).
    public enum Dialect: Sendable { case aggregator, bankAPI, everyField }

    static let names = ["ČEZ a.s.", "Tesco Stores ČR a.s.", "Alza.cz a.s.", "Kavárna Slavia", "Flowpay s.r.o.",
                        "O2 Czech Republic a.s.", "Rohlik.cz", "Shell Czech Republic", "ACME Distribution GmbH"]

    public init(seed: UInt64, currency: String = "CZK", withIDs: Bool = true, idSalt: UInt64 = 0, dailyTransactions: Int? = nil,
                dialect: Dialect = .aggregator) {
        self.dialect = dialect
        self.seed = seed
        self.currency = currency
        self.withIDs = withIDs
        self.idSalt = idSalt
        self.dailyTransactions = dailyTransactions
    }

    public func transactions(bookedOn day: Day) -> [Transaction] {
        var random = SandboxRandom(seed: seed &* 0x9E37_79B9 ^ UInt64(bitPattern: Int64(day.daysSinceEpoch)))
        var result: [Transaction] = []
        let count = Int(random.next() % 4)
        for index in 0..<(dailyTransactions ?? count) {
            let lag = random.next() % 7 == 0 ? Int(1 + random.next() % 5) : 0
            let pending = random.next() % 5 == 0
            let incoming = random.next() % 4 == 0
            let magnitude = Int64(100 + random.next() % 2_500_000)
            let name = Self.names[Int(random.next() % UInt64(Self.names.count))]
            let transaction = Transaction(
                bookingDay: day, visibleFrom: day.adding(days: lag), pendingFrom: pending ? day.adding(days: -Int(1 + random.next() % 2)) : nil,
                amountMinor: incoming ? magnitude * 3 : -magnitude, counterpartyName: name,
                counterpartyIBAN: "CZ65080000001920001\(String(format: "%05d", Int(random.next() % 100_000)))",
                remittance: incoming ? "Faktura \(day.daysSinceEpoch % 1000)-\(index)" : "Platba kartou \(name)",
                internalID: String(format: "%016llx%08x", (seed &+ UInt64(bitPattern: Int64(day.daysSinceEpoch))) ^ idSalt, index))
            result.append(transaction)
            if random.next() % 20 == 0 {   // an identical twin: same day, same everything but its id
                result.append(Transaction(bookingDay: day, visibleFrom: transaction.visibleFrom, pendingFrom: nil,
                                          amountMinor: transaction.amountMinor, counterpartyName: name,
                                          counterpartyIBAN: transaction.counterpartyIBAN, remittance: transaction.remittance,
                                          internalID: transaction.internalID + "t"))
            }
        }
        if day.civil.day == 1 {
            var fee = Transaction(bookingDay: day, visibleFrom: day, pendingFrom: nil, amountMinor: -9_900, counterpartyName: "",
                                  counterpartyIBAN: "", remittance: Self.feeText, internalID: "")
            fee.isFee = true
            result.append(fee)
        }
        return result
    }

    /// What the bank shows on `today` for booking days `from…to`: booked (visible by now) and pending.
    public func visible(today: Day, from: Day, to: Day) -> (booked: [Transaction], pending: [Transaction]) {
        var booked: [Transaction] = []
        var pending: [Transaction] = []
        guard from <= to else { return ([], []) }
        // Pending ones are dated before their booking day, so look two days past the window too.
        for offset in 0...(to - from + 2) {
            let day = from.adding(days: offset)
            for transaction in transactions(bookedOn: day) {
                if transaction.visibleFrom <= today, day <= to {
                    booked.append(transaction)
                } else if let pendingFrom = transaction.pendingFrom, pendingFrom <= today, transaction.visibleFrom > today,
                          pendingFrom >= from, pendingFrom <= to {
                    pending.append(transaction)
                }
            }
        }
        return (booked, pending)
    }

    /// The value day of a booked transaction: its booking day, but for the `everyField` dialect, where about half
    /// settle two days later.
    public func valueDay(of transaction: Transaction) -> Day {
        dialect == .everyField && !transaction.isFee && (transaction.amountMinor.magnitude / 7) % 2 == 0
            ? transaction.bookingDay.adding(days: 2) : transaction.bookingDay
    }

    /// What a bank that filters by value date shows (the `everyField` dialect's banks): booked rows whose value day lies
    /// in `from…to` — some booked before `from` — and the pending rows as `visible` has them.
    public func visibleByValueDate(today: Day, from: Day, to: Day) -> (booked: [Transaction], pending: [Transaction]) {
        let wide = visible(today: today, from: from.adding(days: -2), to: to)
        let booked = wide.booked.filter { transaction in
            let value = valueDay(of: transaction)
            return value >= from && value <= to
        }
        return (booked, visible(today: today, from: from, to: to).pending)
    }

    /// Berlin Group / GoCardless JSON for one transaction.
    public func json(_ transaction: Transaction, pending: Bool) -> [String: Any] {
        let amount = Money(minorUnits: transaction.amountMinor, currency: (try? Currency(code: currency)) ?? (try! Currency(code: "EUR")))
        var object: [String: Any] = [
            "transactionAmount": ["amount": amount.decimalString, "currency": currency],
            "remittanceInformationUnstructured": transaction.remittance,
            "bankTransactionCode": transaction.amountMinor < 0 ? "PMNT-ICDT-ESCT" : "PMNT-RCDT-ESCT",
        ]
        if transaction.isFee {
            object["bankTransactionCode"] = "ACMT-MDOP-CHRG"
            object["bookingDate"] = transaction.bookingDay.description
            object["valueDate"] = transaction.bookingDay.description
            return object
        }
        let party = transaction.amountMinor < 0 ? "creditor" : "debtor"
        let shape = transaction.amountMinor.magnitude
        object["\(party)Name"] = transaction.counterpartyName
        object["\(party)Account"] = shape % 3 == 0 ? ["bban": String(transaction.counterpartyIBAN.suffix(12)) + "/0800"]
                                                     : ["iban": transaction.counterpartyIBAN]
        if dialect == .bankAPI, !pending {
            object["\(party)Account"] = ["iban": transaction.counterpartyIBAN]
            object["remittanceInformationUnstructured"] = nil
            object["remittanceInformationUnstructuredArray"] = transaction.remittance.split(separator: " ", maxSplits: 1).map(String.init) + ["CZ"]
            object["bankTransactionCode"] = nil
            object["proprietaryBankTransactionCode"] = transaction.amountMinor < 0 ? "DEBIT" : "CREDIT"
            object["bookingDate"] = transaction.bookingDay.description
            if withIDs { object["transactionId"] = "bank-" + transaction.internalID }
            return object
        }
        if dialect == .everyField, !pending {
            switch shape % 5 {
            case 0: object["\(party)Account"] = ["bban": "19-" + String(transaction.counterpartyIBAN.suffix(10)) + "/0800"]
            case 1: object["\(party)Account"] = ["other": ["identification": "CARD-" + String(transaction.counterpartyIBAN.suffix(6)), "schemeName": "BANK"]]
            case 2: object["\(party)Account"] = ["maskedPan": "5168 44XX XXXX " + String(transaction.counterpartyIBAN.suffix(4))]
            default: break
            }
            if shape % 4 == 1 {
                object["remittanceInformationUnstructured"] = nil
                object["remittanceInformationStructuredArray"] = transaction.remittance.split(separator: " ").map(String.init)
            }
            object["bookingDate"] = transaction.bookingDay.description
            if shape % 3 == 2 {
                object["valueDateTime"] = "\(valueDay(of: transaction))T10:15:00+01:00"
            } else {
                object["valueDate"] = valueDay(of: transaction).description
            }
            if withIDs {
                object["internalTransactionId"] = transaction.internalID
                object["transactionId"] = transaction.internalID
            }
            return object
        }
        if pending {
            object["valueDate"] = (transaction.pendingFrom ?? transaction.bookingDay).description
        } else {
            switch shape {
            case _ where shape % 29 == 0: object["bookingDateTime"] = "\(transaction.bookingDay)T09:41:07Z"
            case _ where shape % 31 == 1: object["valueDate"] = transaction.bookingDay.description
            default:
                object["bookingDate"] = transaction.bookingDay.description
                object["valueDate"] = transaction.bookingDay.description
            }
            if withIDs {
                object["internalTransactionId"] = transaction.internalID
                object["transactionId"] = transaction.internalID
            }
        }
        return object
    }

    // MARK: the ledger's balances

    /// The bank closes a day's books once nothing can be back-dated into it: bookings show up to 5 days late, so
    /// the last closed day is six days back. Its booked balances (`closingBooked`, `openingBooked`) are final; the
    /// days after it are still moving (only `interimAvailable` covers them).
    public static let booksCloseAfterDays = 6
    /// The running balance starts at the end of this day with `openingBalance`; every booking after it moves it.
    public static let ledgerEpoch = Day(daysSinceEpoch: 18_262)   // 2020-01-01

    public var openingBalance: Int64 { Int64(seed % 50_000_000) + 1_000_000 }

    public func closedDay(today: Day) -> Day { today.adding(days: -Self.booksCloseAfterDays) }

    /// The amounts booked on `day` in the bank's order: `transactions(bookedOn:)` without building the rows (the same
    /// random draws), cheap enough to run from the epoch for every balance asked.
    public func amounts(bookedOn day: Day) -> [Int64] {
        var random = SandboxRandom(seed: seed &* 0x9E37_79B9 ^ UInt64(bitPattern: Int64(day.daysSinceEpoch)))
        var result: [Int64] = []
        let count = Int(random.next() % 4)
        for _ in 0..<(dailyTransactions ?? count) {
            if random.next() % 7 == 0 { _ = random.next() }   // lag
            let pending = random.next() % 5 == 0
            let incoming = random.next() % 4 == 0
            let magnitude = Int64(100 + random.next() % 2_500_000)
            _ = random.next()                                   // name
            if pending { _ = random.next() }                    // pendingFrom
            _ = random.next()                                   // counterparty account
            let amount = incoming ? magnitude * 3 : -magnitude
            result.append(amount)
            if random.next() % 20 == 0 { result.append(amount) }   // the identical twin
        }
        if day.civil.day == 1 { result.append(-9_900) }
        return result
    }

    /// The booked balance at the end of `day`: the opening balance plus every booking up to it (all of them: for a
    /// closed day every booking is visible).
    public func balance(endOf day: Day) -> Int64 {
        var balance = openingBalance
        if day >= Self.ledgerEpoch {
            var current = Self.ledgerEpoch.adding(days: 1)
            while current <= day {
                for amount in amounts(bookedOn: current) { balance += amount }
                current = current.adding(days: 1)
            }
        } else {
            var current = day.adding(days: 1)
            while current <= Self.ledgerEpoch {
                for amount in amounts(bookedOn: current) { balance -= amount }
                current = current.adding(days: 1)
            }
        }
        return balance
    }

    /// What the bank shows as available now: the last closed day's balance plus what is visible since.
    public func availableBalance(today: Day) -> Int64 {
        let closed = closedDay(today: today)
        return balance(endOf: closed) + visible(today: today, from: closed.adding(days: 1), to: today).booked.reduce(0) { $0 + $1.amountMinor }
    }

    /// `balanceAfterTransaction` for each booked row of `booked` (in the bank's order, as `visible` lists them) whose
    /// day is closed; nil for the others. `extra`: bookings outside the synthetic ones (a late chargeback), by day.
    public func balancesAfter(_ booked: [Transaction], today: Day, extra: [(day: Day, amountMinor: Int64)] = []) -> [Int64?] {
        guard let first = booked.first?.bookingDay else { return [] }
        let closed = closedDay(today: today)
        var running = balance(endOf: first.adding(days: -1)) + extra.filter { $0.day < first }.reduce(0) { $0 + $1.amountMinor }
        var day = first
        return booked.map { transaction in
            guard transaction.bookingDay <= closed else { return nil }
            while day < transaction.bookingDay {
                // the previous day's extra bookings come after its synthetic ones
                running += extra.filter { $0.day == day }.reduce(0) { $0 + $1.amountMinor }
                day = day.adding(days: 1)
            }
            running += transaction.amountMinor
            return running
        }
    }

    /// The account's booked and available balances as Berlin Group types them, consistent with what it lists:
    /// `closingBooked` and `openingBooked` of the last closed day, `interimAvailable` of today. `extra` bookings
    /// count from their day; `shiftMinor` moves the booked ones (a fault: a bank whose balance is off).
    public func balancesJSON(today: Day, extra: [(day: Day, amountMinor: Int64)] = [], shiftMinor: Int64 = 0,
                             kinds: Set<String>? = nil, dated: Bool = true, currency reported: String? = nil) -> [[String: Any]] {
        let closed = closedDay(today: today)
        func extraThrough(_ day: Day) -> Int64 { extra.filter { $0.day <= day }.reduce(0) { $0 + $1.amountMinor } }
        let closing = balance(endOf: closed) + extraThrough(closed) + shiftMinor
        let opening = balance(endOf: closed.adding(days: -1)) + extraThrough(closed.adding(days: -1)) + shiftMinor
        let available = availableBalance(today: today) + extraThrough(today)
        let code = reported ?? currency
        let money = { (minor: Int64) -> [String: Any] in
            ["amount": Money(minorUnits: minor, currency: (try? Currency(code: code)) ?? (try! Currency(code: "EUR"))).decimalString, "currency": code]
        }
        var list: [[String: Any]] = []
        for (kind, amount, day) in [("closingBooked", closing, closed), ("openingBooked", opening, closed), ("interimAvailable", available, today)]
        where kinds?.contains(kind) ?? true {
            var object: [String: Any] = ["balanceAmount": money(amount), "balanceType": kind]
            if dated { object["referenceDate"] = day.description }
            list.append(object)
        }
        return list
    }
}

/// SplitMix64: small, fast and deterministic.
struct SandboxRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The sandboxes' answers as JSON, keys sorted. Written by hand: Foundation's JSONSerialization cost the fleet
/// sandbox more CPU than the worker it served (measured with `Benchmarks/fleet`).
func jsonBytes(_ object: Any) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(256)
    writeJSON(object, into: &bytes)
    return bytes
}

func writeJSON(_ value: Any, into bytes: inout [UInt8]) {
    switch value {
    case let text as String: writeJSONString(text, into: &bytes)
    case let flag as Bool: bytes += Array((flag ? "true" : "false").utf8)
    case let number as Int: bytes += Array(String(number).utf8)
    case let number as Int64: bytes += Array(String(number).utf8)
    case let number as UInt64: bytes += Array(String(number).utf8)
    case let number as Double: bytes += Array((number.isFinite ? String(number) : "null").utf8)
    case let object as [String: Any]:
        bytes.append(UInt8(ascii: "{"))
        for (index, key) in object.keys.sorted().enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            writeJSONString(key, into: &bytes)
            bytes.append(UInt8(ascii: ":"))
            writeJSON(object[key]!, into: &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
    case let array as [Any]:
        bytes.append(UInt8(ascii: "["))
        for (index, element) in array.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            writeJSON(element, into: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    default:
        if value is NSNull { bytes += Array("null".utf8) } else { writeJSONString(String(describing: value), into: &bytes) }
    }
}

func writeJSONString(_ text: String, into bytes: inout [UInt8]) {
    bytes.append(UInt8(ascii: "\""))
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
        case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
        case 0x0A: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
        case 0x0D: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
        case 0x09: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
        case 0..<0x20: bytes += Array(String(format: "\\u%04x", byte).utf8)
        default: bytes.append(byte)
        }
    }
    bytes.append(UInt8(ascii: "\""))
}

func todayUTC() -> Day { Day(utcSecondsSince1970: Date().timeIntervalSince1970) }
