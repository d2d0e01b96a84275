import Foundation

/// Splits a migration file into its statements, for a migration that runs outside a transaction: PostgreSQL
/// runs a multi-statement query string as one implicit transaction, where `CREATE INDEX CONCURRENTLY` is refused.
///
/// Knows the lexical forms a semicolon can hide in: quoted strings and identifiers, dollar-quoted bodies
/// (`DO $$ … $$`, `$fn$ … $fn$`), `--` comments and nested `/* */` comments. Comment-only pieces are dropped.
enum SQLScript {
    static func statements(_ sql: String) -> [String] {
        let text = Array(sql.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var hasCode = false
        var index = 0

        func take(_ count: Int) {
            current.append(contentsOf: text[index..<min(index + count, text.count)])
            index += count
        }
        func finish() {
            if hasCode { statements.append(String(current).trimmingCharacters(in: .whitespacesAndNewlines)) }
            current = String.UnicodeScalarView()
            hasCode = false
        }

        while index < text.count {
            let scalar = text[index]
            let next = index + 1 < text.count ? text[index + 1] : nil
            switch scalar {
            case "-" where next == "-":
                while index < text.count, text[index] != "\n" { take(1) }
            case "/" where next == "*":
                var depth = 0
                repeat {
                    if text[index] == "/", index + 1 < text.count, text[index + 1] == "*" {
                        depth += 1
                        take(2)
                    } else if text[index] == "*", index + 1 < text.count, text[index + 1] == "/" {
                        depth -= 1
                        take(2)
                    } else {
                        take(1)
                    }
                } while depth > 0 && index < text.count
            case "'", "\"":
                hasCode = true
                take(1)
                while index < text.count {
                    if text[index] == scalar {
                        // A doubled quote is an escaped one.
                        if index + 1 < text.count, text[index + 1] == scalar { take(2); continue }
                        take(1)
                        break
                    }
                    take(1)
                }
            case "$":
                hasCode = true
                // $tag$ … $tag$ (tag: letters, digits, underscores, not starting with a digit); `$1` is a parameter.
                var end = index + 1
                while end < text.count, text[end] == "_" || text[end].properties.isAlphabetic || (end > index + 1 && ("0"..."9").contains(text[end])) {
                    end += 1
                }
                guard end < text.count, text[end] == "$" else { take(1); break }
                let tag = Array(text[index...end])
                take(tag.count)
                while index < text.count {
                    if text[index] == "$", index + tag.count <= text.count, Array(text[index..<index + tag.count]) == tag {
                        take(tag.count)
                        break
                    }
                    take(1)
                }
            case ";":
                take(1)
                finish()
            default:
                if !scalar.properties.isWhitespace { hasCode = true }
                take(1)
            }
        }
        finish()
        return statements
    }
}
