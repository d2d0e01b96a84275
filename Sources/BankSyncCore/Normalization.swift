import Foundation

/// The one place text from banks is made comparable: the dedup fingerprint and what we push both use it.
public enum Normalization {
    /// Upper-case, no spaces: `cz65 0800 0000 1920 0014 5399` → `CZ6508000000192000145399`.
    /// Whether two counterparty account numbers, as two sources wrote them, may be the same account: equal once
    /// normalised, or one an IBAN and the other a domestic number (`19-2000145399/0800`, `2000145399`) whose digits
    /// before the bank code, without leading zeros, end the IBAN. A missing number on either side decides nothing.
    public static func mayBeSameAccount(_ one: String?, _ other: String?) -> Bool {
        guard let one = iban(one), let other = iban(other) else { return true }
        if one == other { return true }
        func isIBAN(_ text: String) -> Bool {
            text.count >= 15 && text.prefix(2).allSatisfy(\.isLetter) && text.dropFirst(2).prefix(2).allSatisfy(\.isNumber)
                && text.allSatisfy { $0.isLetter || $0.isNumber }
        }
        guard isIBAN(one) != isIBAN(other) else { return false }
        let (ibanText, domestic) = isIBAN(one) ? (one, other) : (other, one)
        let number = String(domestic.split(separator: "/").first ?? "").filter(\.isNumber).drop { $0 == "0" }
        return number.count >= 6 && ibanText.hasSuffix(number)   // a short number matches too many accounts
    }

    public static func iban(_ text: String?) -> String? {
        guard let text else { return nil }
        if text.utf8.allSatisfy({ $0 < 0x80 }) {   // the usual case, byte by byte (Unicode properties are slow)
            var compact: [UInt8] = []
            compact.reserveCapacity(text.utf8.count)
            for byte in text.utf8 where byte != UInt8(ascii: " ") && byte != UInt8(ascii: "-") && !(0x09...0x0D).contains(byte) && byte != 0 {
                compact.append((UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) ? byte - 0x20 : byte)
            }
            return compact.isEmpty ? nil : String(decoding: compact, as: UTF8.self)
        }
        let compact = String(text.unicodeScalars.filter { !$0.properties.isWhitespace && $0 != "-" }).uppercased()
        return compact.isEmpty ? nil : compact
    }

    /// A counterparty account: an IBAN (two letters, two digits) is normalised as one; anything else (a BBAN
    /// or Czech domestic number `19-2000145399/0800`, a card number) keeps its punctuation, whitespace collapsed.
    public static func accountIdentifier(_ text: String?) -> String? {
        guard let text else { return nil }
        let head = Array(text.utf8.filter { $0 != UInt8(ascii: " ") }.prefix(4))
        let looksLikeIBAN = head.count == 4 && head[0..<2].allSatisfy { (0x41...0x5A).contains($0 & 0xDF) }
            && head[2..<4].allSatisfy { (0x30...0x39).contains($0) }
        return looksLikeIBAN ? iban(text) : self.text(text)
    }

    /// Unicode NFC with runs of whitespace collapsed to one space and the ends trimmed, U+0000 removed
    /// (PostgreSQL text cannot hold it); empty becomes nil.
    public static func text(_ text: String?) -> String? {
        guard let text else { return nil }
        // Text without a scalar at or above U+0300 (the first combining mark) is already NFC and each of its
        // scalars is a Character of its own (CR LF aside, which is whitespace either way), so it can be
        // collapsed byte by byte. This is the ingest hot path; Foundation's NFC and per-Character work are
        // slow on Linux.
        if text.unicodeScalars.allSatisfy({ $0.value < 0x300 }) { return collapsedBelowCombiningMarks(text) }
        return collapsedByCharacter(text.precomposedStringWithCanonicalMapping)
    }

    /// `collapsedByCharacter` for text whose scalars are all below U+0300. Its whitespace scalars are
    /// U+0009…U+000D, U+0020, U+0085 and U+00A0 (UTF-8 `C2 85`, `C2 A0`).
    static func collapsedBelowCombiningMarks(_ text: String) -> String? {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count)
        var pendingSpace = false
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == 0x00 { continue }   // U+0000: dropped, as if absent
            var isWhitespace = byte == 0x20 || (0x09...0x0D).contains(byte)
            var second: UInt8?
            if byte == 0xC2, let next = iterator.next() {
                if next == 0x85 || next == 0xA0 { isWhitespace = true } else { second = next }
            }
            if isWhitespace {
                pendingSpace = !output.isEmpty
                continue
            }
            if pendingSpace { output.append(0x20) }
            pendingSpace = false
            output.append(byte)
            if let second { output.append(second) }   // a continuation byte: never whitespace
        }
        return output.isEmpty ? nil : String(decoding: output, as: UTF8.self)
    }

    /// The general rule, one Character at a time: whitespace Characters (their first scalar is
    /// White_Space) become one pending space, emitted only between non-whitespace Characters.
    static func collapsedByCharacter(_ text: String) -> String? {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        var pendingSpace = false
        for character in text where character != "\u{0}" {
            if character.isWhitespace {
                pendingSpace = !result.isEmpty
            } else {
                if pendingSpace { result.append(" ") }
                pendingSpace = false
                result.append(character)
            }
        }
        return result.isEmpty ? nil : result
    }
}
