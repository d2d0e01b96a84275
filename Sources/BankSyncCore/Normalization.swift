import Foundation

/// The one place text from banks is made comparable: the dedup fingerprint and what we push both use it.
public enum Normalization {
    /// Upper-case, no spaces: `cz65 0800 0000 1920 0014 5399` → `CZ6508000000192000145399`.
    public static func iban(_ text: String?) -> String? {
        guard let text else { return nil }
        let compact = String(text.unicodeScalars.filter { !$0.properties.isWhitespace && $0 != "-" }).uppercased()
        return compact.isEmpty ? nil : compact
    }

    /// Unicode NFC with runs of whitespace collapsed to one space and the ends trimmed; empty becomes nil.
    public static func text(_ text: String?) -> String? {
        guard let text else { return nil }
        var result = ""
        result.reserveCapacity(text.utf8.count)
        var pendingSpace = false
        // Text without a scalar at or above U+0300 (the first combining mark) is already NFC; skipping the
        // Foundation call there matters on the ingest path (it is slow on Linux).
        let composed = text.unicodeScalars.allSatisfy { $0.value < 0x300 } ? text : text.precomposedStringWithCanonicalMapping
        for character in composed {
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
