/// The IBAN of a Czech domestic account number (`[prefix-]number/bank code`), as the Czech National Bank
/// standardises it: `CZ` + two check digits + the 4-digit bank code + the prefix padded to 6 digits + the number
/// padded to 10; check digits by ISO 13616 mod 97 (letters as 10–35, `CZ00` moved to the end).
/// `19-2000145399/0800` → `CZ6508000000192000145399`.
public enum CzechIBAN {
    /// nil when the parts are not a Czech domestic number (wrong lengths, not digits).
    public static func from(accountNumber: String, bankCode: String) -> String? {
        let account = accountNumber.filter { !$0.isWhitespace }
        let code = bankCode.filter { !$0.isWhitespace }
        let parts = account.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count <= 2, code.count == 4, code.allSatisfy(\.isASCIIDigit) else { return nil }
        let prefix = parts.count == 2 ? String(parts[0]) : ""
        let number = String(parts[parts.count - 1])
        guard prefix.count <= 6, (1...10).contains(number.count), prefix.allSatisfy(\.isASCIIDigit), number.allSatisfy(\.isASCIIDigit),
              number.contains(where: { $0 != "0" }) else { return nil }
        let bban = code + padded(prefix, 6) + padded(number, 10)
        return "CZ" + checkDigits(bban: bban, country: "CZ") + bban
    }

    /// ISO 13616 check digits of `bban` in `country`.
    public static func checkDigits(bban: String, country: String) -> String {
        var remainder = 0
        for character in (bban + country + "00").uppercased() {
            if let digit = character.wholeNumberValue, character.isASCII {
                remainder = (remainder * 10 + digit) % 97
            } else if let ascii = character.asciiValue, ascii >= 65, ascii <= 90 {
                remainder = (remainder * 100 + Int(ascii) - 55) % 97
            }
        }
        let check = 98 - remainder
        return check < 10 ? "0\(check)" : "\(check)"
    }

    static func padded(_ digits: String, _ width: Int) -> String {
        String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
