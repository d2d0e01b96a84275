import AsyncHTTPClient
import Foundation
import NIOSSL

/// What `banksync doctor` asks of the sources before a run: do our credentials work, is the bank there.
extension GoCardlessClient {
    /// Obtains an access token with the configured secret id and key (no account data is read, no budget spent).
    public func checkCredentials() async throws(SourceError) {
        _ = try await tokens.access()
    }
}

extension BerlinGroupConfiguration {
    /// The expiry of the configured client certificate (the first of the PEM chain); nil without one.
    public func certificateExpiry() throws(SourceError) -> Date? {
        guard let path = clientCertificatePath else { return nil }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw .unauthorised("cannot read the client certificate \(path): \(error)")
        }
        guard let leaf = chain.first else { throw .unauthorised("\(path) holds no certificate") }
        if let key = clientKeyPath, !FileManager.default.isReadableFile(atPath: key) {
            throw .unauthorised("cannot read the client key \(key)")
        }
        return Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
    }
}

extension BerlinGroupSource {
    /// Asks the bank for one consent's status (not an account read, so no daily budget is spent): proves the
    /// bank answers and accepts our client certificate. Returns the consent status the bank reported.
    public func checkReachable() async throws(SourceError) -> String {
        let status = try await get("/v1/consents/\(configuration.consentID)/status", account: nil)
        return JSONShape.string(status["consentStatus"]) ?? "?"
    }
}
