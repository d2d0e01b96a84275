@testable import BankSyncCore
import Testing

/// The byte-level fast path of `Normalization.text` gives exactly what the per-Character rule gives, so the
/// dedup fingerprint does not depend on which path a string took.
@Suite struct NormalizationTests {
    /// Scalars below U+0300 that matter: every whitespace one, CR LF pairs, ASCII, Latin-1 and Latin Extended
    /// letters (Czech diacritics), the C2 lead byte's neighbours in UTF-8.
    static let alphabet: [Unicode.Scalar] = [
        "\t", "\n", "\u{0B}", "\u{0C}", "\r", " ", "\u{85}", "\u{A0}", "\u{84}", "\u{86}", "\u{9F}", "\u{A1}", "\u{BF}",
        "a", "Z", "0", "-", "/", "\\", "\u{0}", "\u{1F}", "\u{7F}", "é", "Č", "ř", "ž", "Ů", "ß", "\u{2FF}", "\u{100}",
    ]

    /// Exhaustive over every string of up to three units (an alphabet scalar or CR LF).
    @Test func theFastPathMatchesThePerCharacterRule() {
        let units = Self.alphabet.map { String($0) } + ["\r\n"]
        var level = [""]
        var texts = level
        for _ in 0..<3 {
            level = level.flatMap { text in units.map { text + $0 } }
            texts += level
        }
        #expect(texts.count == 1 + 31 + 31 * 31 + 31 * 31 * 31)
        for text in texts {
            #expect(Normalization.collapsedBelowCombiningMarks(text) == Normalization.collapsedByCharacter(text), "\(Array(text.unicodeScalars))")
        }
    }

    @Test func collapsesTrimsAndComposes() {
        #expect(Normalization.text("  Záloha \t elektřina\u{A0}\u{A0}11/2026 \r\n") == "Záloha elektřina 11/2026")
        #expect(Normalization.text(" \u{85} \n") == nil)
        #expect(Normalization.text("Cafe\u{301}  Slavia") == "Café Slavia")   // decomposed é → NFC
        #expect(Normalization.text("Kavárna\u{2003}Slavia") == "Kavárna Slavia")   // em space, general path
    }
}

extension NormalizationTests {
    @Test func ibansLoseSpacesAndDashesAndAreUpperCase() {
        #expect(Normalization.iban("cz65 0800 0000 1920-0014 5399\t") == "CZ6508000000192000145399")
        #expect(Normalization.iban(" \n- ") == nil)
        #expect(Normalization.iban("de89\u{A0}3704 0044 0532 0130 00") == "DE89370400440532013000")   // NBSP: general path
    }

    /// PostgreSQL text cannot hold U+0000: normalisation removes it; the raw JSON loses its `\u0000` escapes
    /// but keeps an escaped backslash followed by the text `u0000`.
    @Test func theNULCharacterIsRemovedEverywhere() {
        #expect(Normalization.text("Platba\u{0}kartou") == "Platbakartou")
        #expect(Normalization.text("Čína \u{0} Praha") == "Čína Praha")
        #expect(Normalization.iban("CZ65\u{0}0800") == "CZ650800")
        let raw = #"{"a":"x\u0000y","b":"\\u0000 kept"}"#
        let transaction = BankTransaction(status: .booked, bookingDate: Day(iso: "2026-11-20"), amount: Money(minorUnits: 1, currency: try! Currency(code: "EUR")),
                                          rawJSON: raw)
        #expect(transaction.rawJSON == #"{"a":"xy","b":"\\u0000 kept"}"#)
    }
}
