import BankSyncCore
import Foundation
import Store

/// An inline SVG line chart: the bank's booked balance per day against the balance the stored bookings imply,
/// with the reconciled-through day marked and the disagreeing range shaded. Presentation attributes only (no
/// inline style: the CSP forbids it); the page pairs it with the same figures as a table.
enum BalanceChart {
    static let width = 640.0
    static let height = 260.0
    static let margin = (left: 12.0, right: 12.0, top: 16.0, bottom: 28.0)

    static func svg(_ reconciliation: ConsoleReconciliation) -> HTML {
        let points = reconciliation.points
        guard points.count >= 2, let first = points.first?.day, let last = points.last?.day else {
            return "<p>Too few booked balances for a chart (\(points.count)); the table below lists them.</p>"
        }
        let values = points.flatMap { [$0.bankMinor, $0.impliedMinor] }
        let low = Double(values.min()!), high = Double(values.max()!)
        let span = max(high - low, 1)
        let days = Double(max(last.daysSinceEpoch - first.daysSinceEpoch, 1))
        func x(_ day: Day) -> Double { margin.left + Double(day.daysSinceEpoch - first.daysSinceEpoch) / days * (width - margin.left - margin.right) }
        func y(_ minor: Int64) -> Double { margin.top + (high - Double(minor)) / span * (height - margin.top - margin.bottom) }
        func line(_ value: (ConsoleBalancePoint) -> Int64) -> String {
            points.map { "\(format(x($0.day))),\(format(y(value($0))))" }.joined(separator: " ")
        }
        var marks: [HTML] = []
        if let from = reconciliation.mismatchFrom, let to = reconciliation.mismatchTo, from <= last, to >= first {
            let left = x(max(from, first)), right = x(min(to, last))
            let rect: HTML = """
                <rect x="\(format(left))" y="\(format(margin.top))" width="\(format(max(right - left, 2)))" \
                height="\(format(height - margin.top - margin.bottom))" fill="#f6d5d5"/>
                """
            marks.append(rect)
        }
        if let through = reconciliation.reconciledThrough, through >= first, through <= last {
            let at = format(x(through))
            let mark: HTML = """
                <line x1="\(at)" x2="\(at)" y1="\(format(margin.top))" y2="\(format(height - margin.bottom))" \
                stroke="#1a5e1a" stroke-width="2" stroke-dasharray="2 3"/>\
                <text x="\(at)" y="12" font-size="11" text-anchor="middle" fill="#1a5e1a">reconciled through \(through.description)</text>
                """
            marks.append(mark)
        }
        let title = "Booked balance of \(reconciliation.label) from \(first) to \(last): the bank's against what the stored bookings imply"
        return """
            <svg class="chart" viewBox="0 0 \(Int(width)) \(Int(height))" role="img" aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">\
            <title id="chart-title">\(title)</title>\(marks)\
            <polyline points="\(line { $0.bankMinor })" fill="none" stroke="#123c8c" stroke-width="2.5"/>\
            <polyline points="\(line { $0.impliedMinor })" fill="none" stroke="#b35c00" stroke-width="2" stroke-dasharray="6 4"/>\
            <text x="\(Int(margin.left) + 4)" y="\(Int(margin.top) + 12)" font-size="11" fill="#222">\(Reconciliation.minorText(Int64(high))) \(reconciliation.currency ?? "")</text>\
            <text x="\(Int(margin.left) + 4)" y="\(Int(height - margin.bottom) - 4)" font-size="11" fill="#222">\(Reconciliation.minorText(Int64(low))) \(reconciliation.currency ?? "")</text>\
            <text x="\(Int(margin.left))" y="\(Int(height - 8))" font-size="11" fill="#222">\(first.description)</text>\
            <text x="\(Int(width - margin.right))" y="\(Int(height - 8))" font-size="11" text-anchor="end" fill="#222">\(last.description)</text>\
            </svg>
            <p class="legend"><span class="key bank">solid blue</span>: the bank's booked balance · \
            <span class="key implied">dashed orange</span>: what Flowpay's bookings imply · green dotted line: reconciled through · \
            red band: the days that disagree</p>
            """
    }

    static func format(_ value: Double) -> String {
        let tenths = (value * 10).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? String(Int(tenths / 10)) : String(tenths / 10)
    }
}
