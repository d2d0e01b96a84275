import Foundation

/// Where Flowpay is and how BankSync authenticates; built once at the edge from the environment.
public struct FlowpayConfiguration: Sendable {
    public var apiURL: String
    public var tokenURL: String
    public var audience: String
    public var clientID: String
    public var clientSecret: String
    public var retry: RetryPolicy
    public var connectTimeout: Duration
    public var requestTimeout: Duration

    public init(apiURL: String, tokenURL: String, audience: String, clientID: String, clientSecret: String,
                retry: RetryPolicy = RetryPolicy(), connectTimeout: Duration = .seconds(10), requestTimeout: Duration = .seconds(60)) {
        self.apiURL = apiURL.hasSuffix("/") ? String(apiURL.dropLast()) : apiURL
        self.tokenURL = tokenURL
        self.audience = audience
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.retry = retry
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
    }
}
