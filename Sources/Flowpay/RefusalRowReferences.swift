/// Which rows of a refused transactions request Flowpay's error envelope names, read from `_embedded.errors`.
///
/// The request is a bare JSON array, so an error about a row names it by its position: in its property path
/// (`[3].counterName: exceeds …`, `dto[3].iban: must not be null`, the contract's `dto.company.country: …` form)
/// or in its JSON pointer `path` (`/3/counterName`, `/transactions/3/amount`); or by the row's own `id` quoted in
/// the message or path. An error that names nothing is about the request as a whole: the customer, the
/// service, the IBAN. Reading never guesses: an index outside the request is counted as unresolved.
public struct RefusalRowReferences: Sendable, Equatable {
    /// Positions (0-based, in the request's array) named by at least one error.
    public var positions: Set<Int> = []
    /// Errors that name no row at all.
    public var unnamedErrors = 0
    /// Errors whose row reference matches no row of the request (an index past its end).
    public var unresolvedErrors = 0

    public init(positions: Set<Int> = [], unnamedErrors: Int = 0, unresolvedErrors: Int = 0) {
        self.positions = positions
        self.unnamedErrors = unnamedErrors
        self.unresolvedErrors = unresolvedErrors
    }

    /// Reads `errors` against the request's row ids, in the order they were sent.
    public init(_ errors: [FlowpayError.Detail], ids: [String]) {
        let positionOfID = Dictionary(ids.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { first, _ in first })
        for error in errors {
            if let index = Self.pathIndex(error.path) ?? Self.messageIndex(error.message) {
                if ids.indices.contains(index) { positions.insert(index) } else { unresolvedErrors += 1 }
                continue
            }
            let named = Self.quotedIDs(in: error.message + " " + (error.path ?? ""), positionOfID: positionOfID)
            if named.isEmpty { unnamedErrors += 1 } else { positions.formUnion(named) }
        }
    }

    /// The first all-digit segment of a JSON pointer (`/3/counterName` → 3, `/transactions/3` → 3).
    static func pathIndex(_ path: String?) -> Int? {
        guard let path, path.hasPrefix("/") else { return nil }
        for segment in path.split(separator: "/") where !segment.isEmpty && segment.allSatisfy(\.isASCIIDigit) {
            return Int(segment)
        }
        return nil
    }

    /// The first `[n]` of the property path a validation message starts with (`[3].amount: …`,
    /// `dto[3].iban: …`, `create.transactions[3].amount: …`). Only a path without spaces before the first colon
    /// counts, so free text that happens to hold brackets names nothing.
    static func messageIndex(_ message: String) -> Int? {
        guard let colon = message.firstIndex(of: ":") else { return nil }
        let propertyPath = message[..<colon]
        guard !propertyPath.isEmpty, !propertyPath.contains(where: \.isWhitespace),
              let open = propertyPath.firstIndex(of: "[") else { return nil }
        let digits = propertyPath[propertyPath.index(after: open)...].prefix { $0.isASCIIDigit }
        let after = propertyPath.index(open, offsetBy: digits.count + 1)
        guard !digits.isEmpty, after < propertyPath.endIndex, propertyPath[after] == "]" else { return nil }
        return Int(digits)
    }

    /// Row ids quoted in `text`: every run of id characters that is one of the request's ids.
    static func quotedIDs(in text: String, positionOfID: [String: Int]) -> Set<Int> {
        var found: Set<Int> = []
        var token = ""
        for character in text + " " {
            if character.isLetter || character.isNumber || character == "_" || character == "-" {
                token.append(character)
            } else {
                if let position = positionOfID[token] { found.insert(position) }
                token = ""
            }
        }
        return found
    }
}

fileprivate extension Character {
    var isASCIIDigit: Bool { isASCII && isWholeNumber }
}
