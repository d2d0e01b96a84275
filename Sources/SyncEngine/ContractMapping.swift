import BankSyncCore
import Flowpay
import Store

/// Stored rows in Flowpay's shapes — the one mapping both PUSH (OutboxDrain) and PULL (PullAPI) use.
public enum ContractMapping {
    public static func transaction(_ row: OutboxTransaction) throws -> FlowpayContract.Transaction {
        FlowpayContract.Transaction(
            id: row.flowpayID, iban: row.iban, bookingDate: row.bookingDate, valueDate: row.valueDate,
            amount: Money(minorUnits: row.amountMinor, currency: try Currency(code: row.currency)),
            counterAccount: row.counterpartyIBAN, counterName: row.counterpartyName, remittanceInfo: row.remittance)
    }

    /// Accounts Flowpay can take (IBAN and BIC known), and those it cannot.
    public static func accounts(_ accounts: [PushAccount]) throws -> (ready: [FlowpayContract.Account], missingBIC: [PushAccount]) {
        var ready: [FlowpayContract.Account] = []
        var missing: [PushAccount] = []
        for account in accounts {
            guard let iban = account.iban, let bic = account.bic else { missing.append(account); continue }
            let balances = try account.balances.map { balance in
                FlowpayContract.AccountBalance(amount: Money(minorUnits: balance.amountMinor, currency: try Currency(code: balance.currency)),
                                               type: balance.type, referenceDate: balance.referenceDate)
            }
            ready.append(.init(iban: iban, bic: bic, name: account.name, ownerName: account.ownerName, balances: balances))
        }
        return (ready, missing)
    }

    /// The PULL bank-accounts feed: the accounts Flowpay can take, each with its reconciliation state.
    public static func accounts(_ accounts: [PushAccount], reconciliations: [Int64: StoredReconciliation]) throws -> [FlowpayContract.Account] {
        var ready: [FlowpayContract.Account] = []
        for account in accounts where account.iban != nil && account.bic != nil {
            var mapped = try Self.accounts([account]).ready[0]
            if let stored = reconciliations[account.accountID] {
                let outcome = stored.outcome
                mapped.reconciliation = FlowpayContract.AccountReconciliation(
                    state: outcome.state.rawValue, detail: outcome.reason ?? outcome.mismatch?.chainBreak, reconciledThrough: outcome.reconciledThrough,
                    differenceFrom: outcome.mismatch?.from.adding(days: 1), differenceTo: outcome.mismatch?.to,
                    difference: try outcome.mismatch.flatMap { mismatch in
                        try stored.currency.map { Money(minorUnits: mismatch.differenceMinor, currency: try Currency(code: $0)) }
                    })
            }
            ready.append(mapped)
        }
        return ready
    }
}
