import BankSyncCore
import Foundation
import HTTPTypes

/// The body checks Flowpay applies (syntactic → 400, business → 422), as the contract states them.
enum FlowpaySandboxValidation {
    struct Problem: Error {
        let status: HTTPResponse.Status
        let message: String
        let errors: [String]
    }

    static func array(_ body: [UInt8]) -> Result<[[String: Any]], Problem> {
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(body)), let array = parsed as? [Any] else {
            return .failure(Problem(status: .badRequest, message: "Bad Request", errors: ["body must be a JSON array"]))
        }
        var objects: [[String: Any]] = []
        for (index, element) in array.enumerated() {
            guard let object = element as? [String: Any] else {
                return .failure(Problem(status: .badRequest, message: "Bad Request", errors: ["[\(index)]: must be an object"]))
            }
            objects.append(object)
        }
        return .success(objects)
    }

    static func accounts(_ body: [UInt8]) -> Result<Int, Problem> {
        let objects: [[String: Any]]
        switch array(body) {
        case .failure(let problem): return .failure(problem)
        case .success(let parsed): objects = parsed
        }
        var errors: [String] = []
        for (index, account) in objects.enumerated() {
            if !isString(account["iban"], maxLength: 34) { errors.append("[\(index)].iban: must be a string of at most 34 characters") }
            if !isString(account["bic"], maxLength: 8) { errors.append("[\(index)].bic: must be a string of at most 8 characters") }
            for (balanceIndex, balance) in ((account["balances"] as? [[String: Any]]) ?? []).enumerated() {
                let prefix = "[\(index)].balances[\(balanceIndex)]"
                if !isCurrency(balance["currency"]) { errors.append("\(prefix).currency: must be an ISO 4217 code") }
                if !isNumber(balance["amount"]) { errors.append("\(prefix).amount: must be a number") }
                if !isDate(balance["referenceDate"]) { errors.append("\(prefix).referenceDate: must be a date") }
            }
        }
        return errors.isEmpty ? .success(objects.count) : .failure(Problem(status: .badRequest, message: "Bad Request", errors: errors))
    }

    static func transactions(_ body: [UInt8], key: String, today currentDay: Day) -> Result<[FlowpaySandboxState.Transaction], Problem> {
        let objects: [[String: Any]]
        switch array(body) {
        case .failure(let problem): return .failure(problem)
        case .success(let parsed): objects = parsed
        }
        guard objects.count <= 1000 else {
            return .failure(Problem(status: .badRequest, message: "Bad Request", errors: ["at most 1000 transactions per request"]))
        }
        var errors: [String] = []
        var accepted: [FlowpaySandboxState.Transaction] = []
        // A day of grace: the partner's clock may be a little ahead of ours.
        let today = currentDay.adding(days: 1).description
        for (index, transaction) in objects.enumerated() {
            let prefix = "[\(index)]"
            if !isString(transaction["id"], maxLength: 100) { errors.append("\(prefix).id: must not be null") }
            if !isString(transaction["iban"], maxLength: 34) { errors.append("\(prefix).iban: must not be null") }
            if !isCurrency(transaction["currency"]) { errors.append("\(prefix).currency: must be an ISO 4217 code") }
            if !isDate(transaction["bookingDate"]) { errors.append("\(prefix).bookingDate: must not be null") }
            if let value = transaction["valueDate"], !isDate(value) { errors.append("\(prefix).valueDate: must be a date") }
            if !isNumber(transaction["amount"]) { errors.append("\(prefix).amount: must be a number") }
            if errors.isEmpty {
                accepted.append(.init(id: transaction["id"] as! String, iban: transaction["iban"] as! String,
                                      bookingDate: transaction["bookingDate"] as! String,
                                      amount: "\(transaction["amount"]!)", idempotencyKey: key))
            }
        }
        if !errors.isEmpty { return .failure(Problem(status: .badRequest, message: "Bad Request", errors: errors)) }
        // Business rule: a booked transaction cannot be booked in the future.
        let future = accepted.enumerated().filter { $0.element.bookingDate > today }.map { "[\($0.offset)].bookingDate: is in the future" }
        if !future.isEmpty { return .failure(Problem(status: .unprocessableContent, message: "Unprocessable Entity", errors: future)) }
        return .success(accepted)
    }

    static func isString(_ value: Any?, maxLength: Int) -> Bool {
        guard let text = value as? String else { return false }
        return !text.isEmpty && text.count <= maxLength
    }

    static func isCurrency(_ value: Any?) -> Bool {
        guard let text = value as? String else { return false }
        return text.count == 3 && text.allSatisfy { $0.isUppercase && $0.isLetter }
    }

    static func isNumber(_ value: Any?) -> Bool {
        guard let number = value as? NSNumber else { return false }
        let type = String(cString: number.objCType)
        return type != "c" && type != "B"   // JSON true/false come back as boolean NSNumbers
    }

    static func isDate(_ value: Any?) -> Bool {
        // A calendar date, YYYY-MM-DD (Day's own parser: an ICU date formatter per value was most of the fleet
        // sandbox's CPU).
        guard let text = value as? String, text.utf8.count == 10 else { return false }
        return Day(iso: text) != nil
    }
}
