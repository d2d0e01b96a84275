import BankSyncCore
import Foundation

/// A fleet of synthetic customers for scale runs (`banksync sandbox --fleet N`): every customer, account and
/// booking is derived from the seed and its index when asked for, so the sandboxes' memory does not grow with
/// the fleet's size and the same seed always gives the same data. Every `berlinGroupEvery`-th customer banks
/// with the Berlin Group bank (a consent), the others through GoCardless (a requisition).
public struct SandboxFleet: Sendable {
    public let size: Int
    public let seed: UInt64
    public let accounts: ClosedRange<Int>
    public let historyDays: ClosedRange<Int>
    /// 0: no Berlin Group customers.
    public let berlinGroupEvery: Int

    public init(size: Int, seed: UInt64 = 1, accounts: ClosedRange<Int> = 1...3, historyDays: ClosedRange<Int> = 90...730,
                berlinGroupEvery: Int = 10) {
        self.size = size
        self.seed = seed
        self.accounts = accounts
        self.historyDays = historyDays
        self.berlinGroupEvery = berlinGroupEvery
    }

    public struct Customer: Sendable, Equatable {
        public let index: Int
        public let flowpayCustomerID: UUID
        public let merchantID: String
        /// `gocardless` or `berlingroup`.
        public let source: String
        /// The requisition (GoCardless) or consent (Berlin Group) id.
        public let reference: String
        public let accountCount: Int
        public let historyDays: Int
    }

    static let requisitionPrefix = "fleet-req-"
    static let consentPrefix = "fleet-consent-"

    public func customer(_ index: Int) -> Customer {
        var random = SandboxRandom(seed: stableHash("fleet/\(seed)/customer/\(index)"))
        let accountCount = accounts.lowerBound + Int(random.next() % UInt64(accounts.count))
        let history = historyDays.lowerBound + Int(random.next() % UInt64(historyDays.count))
        let berlinGroup = berlinGroupEvery > 0 && index % berlinGroupEvery == berlinGroupEvery - 1
        return Customer(index: index, flowpayCustomerID: UUID(uuidString: uuidLike(stableHash("fleet/\(seed)/flowpay/\(index)")))!,
                        merchantID: "fleet-\(index)", source: berlinGroup ? "berlingroup" : "gocardless",
                        reference: (berlinGroup ? Self.consentPrefix : Self.requisitionPrefix) + String(index),
                        accountCount: accountCount, historyDays: history)
    }

    /// The customer a requisition or consent id names, when it is one of the fleet's and of that source.
    func customer(reference: String, source: String) -> Customer? {
        let prefix = source == "berlingroup" ? Self.consentPrefix : Self.requisitionPrefix
        guard reference.hasPrefix(prefix), let index = Int(reference.dropFirst(prefix.count)), (0..<size).contains(index) else { return nil }
        let customer = customer(index)
        return customer.source == source ? customer : nil
    }

    /// Account ids that say whose they are: `f1ee70<bank>-0000-4000-8000-<customer:8 hex><account:4 hex>`.
    static func accountID(customer: Int, account: Int, berlinGroup: Bool) -> String {
        String(format: "f1ee70%02x-0000-4000-8000-%08x%04x", berlinGroup ? 1 : 0, customer, account)
    }

    func account(_ id: String, berlinGroup: Bool) -> (customer: Int, account: Int)? {
        let prefix = String(format: "f1ee70%02x-0000-4000-8000-", berlinGroup ? 1 : 0)
        guard id.hasPrefix(prefix) else { return nil }
        let tail = id.dropFirst(prefix.count)
        guard tail.count == 12, let customer = Int(tail.prefix(8), radix: 16), let account = Int(tail.suffix(4), radix: 16),
              (0..<size).contains(customer), account < self.customer(customer).accountCount else { return nil }
        return (customer, account)
    }

    func accountIDs(of customer: Customer) -> [String] {
        (0..<customer.accountCount).map { Self.accountID(customer: customer.index, account: $0, berlinGroup: customer.source == "berlingroup") }
    }

    func bank(customer: Int, account: Int, currency: String) -> SyntheticBank {
        SyntheticBank(seed: stableHash("fleet/\(seed)/bank/\(customer)/\(account)"), currency: currency)
    }

    func iban(customer: Int, account: Int, country: String) -> String {
        let digits = stableHash("fleet/\(seed)/iban/\(customer)/\(account)") % 10_000_000_000_000_000_000
        return country == "DE" ? "DE89" + String(format: "%018llu", digits % 1_000_000_000_000_000_000) : "CZ65" + String(format: "%020llu", digits)
    }

    /// Booked transactions of a customer's accounts the bank shows on `today` with a booking day from `from`:
    /// what a correct sync holds after reading that span (the ground truth of fleet tests).
    public func bookedTransactions(ofCustomer index: Int, from: Day, today: Day) -> Int {
        let customer = customer(index)
        return (0..<customer.accountCount).reduce(0) { total, account in
            total + bank(customer: index, account: account, currency: customer.source == "berlingroup" ? "EUR" : "CZK")
                .visible(today: today, from: from, to: today).booked.count
        }
    }

    /// `flowpay_customer_id,merchant_id,source,reference,history_days` lines (with a header), what
    /// `banksync customers import` reads.
    public func writeCSV(to path: String, bankURL: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteNoPermission)
        }
        defer { try? file.close() }
        var chunk = "flowpay_customer_id,merchant_id,source,reference,history_days,bank_url\n"
        for index in 0..<size {
            let customer = customer(index)
            chunk += "\(customer.flowpayCustomerID.uuidString.lowercased()),\(customer.merchantID),\(customer.source),\(customer.reference),"
                + "\(customer.historyDays),\(customer.source == "berlingroup" ? bankURL : "")\n"
            if chunk.utf8.count > 1 << 16 { file.write(Data(chunk.utf8)); chunk = "" }
        }
        file.write(Data(chunk.utf8))
    }
}
