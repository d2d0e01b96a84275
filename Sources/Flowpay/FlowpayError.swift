/// What went wrong talking to Flowpay, with what ops and Flowpay support need (status, `logref`).
public enum FlowpayError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A 4xx Flowpay will not accept on retry: recorded with its logref, never retried.
    case rejected(status: Int, message: String, logref: String?, errors: [Detail])
    /// Credentials refused (token endpoint 401/403, or the API still says 401 after a fresh token).
    case unauthorized(String)
    /// Retries for 5xx/408/429/connection errors ran out; the last problem is kept.
    case retriesExhausted(attempts: Int, last: String)
    /// A response or configuration that makes no sense (unparseable token answer, bad URL).
    case protocolError(String)

    /// One entry of the envelope's `_embedded.errors`.
    public struct Detail: Sendable, Equatable {
        public var message: String
        public var path: String?

        public init(message: String, path: String? = nil) {
            self.message = message
            self.path = path
        }
    }

    public var logref: String? {
        if case .rejected(_, _, let logref, _) = self { return logref }
        return nil
    }

    public var description: String {
        switch self {
        case .rejected(let status, let message, let logref, let errors):
            "Flowpay rejected the request (HTTP \(status)): \(message)"
                + (errors.isEmpty ? "" : " — " + errors.map(\.message).joined(separator: "; "))
                + (logref.map { " [logref \($0)]" } ?? "")
        case .unauthorized(let detail): "Flowpay refused the credentials: \(detail)"
        case .retriesExhausted(let attempts, let last): "Flowpay unavailable after \(attempts) attempts: \(last)"
        case .protocolError(let detail): "unexpected answer from Flowpay: \(detail)"
        }
    }
}
