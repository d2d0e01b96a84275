import Foundation

/// The reverse proxies (an ingress, a load balancer) whose `Forwarded` / `X-Forwarded-For` headers `serve`
/// believes (`BANKSYNC_TRUSTED_PROXIES`: comma-separated CIDRs, IPv4 and IPv6; default none). A header from
/// any other peer is the client's own say and is ignored: anyone can write one.
public struct TrustedProxies: Sendable, Equatable {
    public struct Network: Sendable, Equatable {
        let address: IPAddress
        let prefix: Int

        func contains(_ candidate: IPAddress) -> Bool {
            candidate.isIPv4 == address.isIPv4 && candidate.masked(to: prefix) == address
        }
    }

    public let networks: [Network]

    public static let none = TrustedProxies(networks: [])

    init(networks: [Network]) { self.networks = networks }

    /// Parses `10.0.0.0/8, 192.168.1.7, fd00::/8`; an address without a prefix is that one host. Throws a message
    /// naming the first entry that is not a CIDR.
    public init(parsing text: String) throws(TrustedProxiesError) {
        var networks: [Network] = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let address = IPAddress(parts[0]) else { throw TrustedProxiesError(entry: entry, problem: "not an IP address") }
            let width = address.isIPv4 ? 32 : 128
            var prefix = width
            if parts.count == 2 {
                guard let bits = Int(parts[1]), (0...width).contains(bits), parts[1].allSatisfy(\.isNumber) else {
                    throw TrustedProxiesError(entry: entry, problem: "the prefix length must be 0…\(width)")
                }
                prefix = bits
            }
            guard address.masked(to: prefix) == address else {
                throw TrustedProxiesError(entry: entry, problem: "has bits set after the prefix (did you mean \(address.masked(to: prefix))/\(prefix)?)")
            }
            networks.append(Network(address: address, prefix: prefix))
        }
        self.networks = networks
    }

    public func contains(_ address: IPAddress) -> Bool { networks.contains { $0.contains(address) } }
}

public struct TrustedProxiesError: Error, CustomStringConvertible {
    public let entry: String
    public let problem: String
    public var description: String { "'\(entry)' is not a CIDR like 10.0.0.0/8 or fd00::/8: \(problem)" }
}
