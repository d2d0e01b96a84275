import Foundation

/// Times as the console shows them: `<time datetime>` with the absolute UTC time and, beside it, how long ago
/// (or until) in words — computed here, refreshed by the script when it runs.
enum ConsoleTime {
    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func absolute(_ date: Date) -> String {
        let text = iso(date)   // 2026-12-07T14:00:00Z
        return String(text.prefix(10)) + " " + String(text.dropFirst(11).prefix(5)) + " UTC"
    }

    static func relative(_ date: Date, now: Date = Date()) -> String {
        let seconds = Int(date.timeIntervalSince(now))
        let magnitude = abs(seconds)
        let words: String
        if magnitude < 60 { words = "\(magnitude) s" }
        else if magnitude < 7_200 { words = "\(magnitude / 60) min" }
        else if magnitude < 172_800 { words = "\(magnitude / 3_600) h" }
        else { words = "\(magnitude / 86_400) days" }
        return seconds < 0 ? "\(words) ago" : "in \(words)"
    }

    static func html(_ date: Date?, now: Date = Date()) -> HTML {
        guard let date else { return "never" }
        return "<time datetime=\"\(iso(date))\">\(absolute(date))</time> <span class=\"rel\" data-rel=\"\(iso(date))\">(\(relative(date, now: now)))</span>"
    }
}
