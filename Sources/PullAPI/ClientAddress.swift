import Foundation
import HTTPTypes
import NIOCore

/// Whom a request comes from, for the per-address rate limit. Behind an ingress the socket peer is the
/// ingress: when (and only when) the peer is a trusted proxy, the client is the right-most address of the
/// forwarding chain (`X-Forwarded-For`, else `Forwarded`) that is not itself a trusted proxy — the one the
/// last trusted hop saw; whatever lies left of it is the client's own say. `X-Forwarded-For` comes first because
/// it is what ingress-nginx, cloud load balancers, Envoy and Traefik append to, while most of them pass a
/// client's `Forwarded` through untouched (a proxy that writes only `Forwarded` must drop the client's
/// `X-Forwarded-For`). IPv6 clients are grouped by /64 (one subscriber gets a whole /64 and can rotate through it).
enum ClientAddress {
    /// The bucket key: `192.0.2.1`, `2001:db8:1:2::/64`, or `unknown`.
    static func key(peer: SocketAddress?, headers: HTTPFields, trusted: TrustedProxies) -> String {
        guard let peerText = peer?.ipAddress, let peerAddress = IPAddress(peerText) else { return "unknown" }
        guard trusted.contains(peerAddress) else { return key(peerAddress) }
        let chain = forwardingChain(headers)
        // Right to left: skip our own proxies; the first hop that is not one is the client.
        for hop in chain.reversed() {
            guard let address = IPAddress(hop) else { return "unidentified" }   // `unknown`, an obfuscated id: one shared bucket
            if !trusted.contains(address) { return key(address) }
        }
        // Every hop is a proxy of ours (or there is no header): the left-most one is as far as we can see.
        return key(chain.first.flatMap { IPAddress($0) } ?? peerAddress)
    }

    static func key(_ address: IPAddress) -> String {
        address.isIPv4 ? address.description : "\(address.masked(to: 64))/64"
    }

    /// The hops a request passed, left (the original client, by its own account) to right (the last proxy's peer):
    /// `X-Forwarded-For` when present, else `Forwarded`'s `for=` values. Brackets and ports are removed.
    static func forwardingChain(_ headers: HTTPFields) -> [String] {
        let forwardedFor = headers[values: HTTPField.Name("X-Forwarded-For")!]
        if !forwardedFor.isEmpty {
            return forwardedFor.flatMap { $0.split(separator: ",") }.map { hostOnly($0.trimmingCharacters(in: .whitespaces)) }
        }
        return headers[values: HTTPField.Name("Forwarded")!].flatMap { $0.split(separator: ",") }.map { element in
            let pair = element.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.lowercased().hasPrefix("for=") }
            return pair.map { hostOnly(String($0.dropFirst(4))) } ?? ""
        }
    }

    /// `"[2001:db8::1]:4711"` → `2001:db8::1`; `192.0.2.1:80` → `192.0.2.1`; `2001:db8::1` stays.
    static func hostOnly(_ value: String) -> String {
        var text = value.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = String(text.dropFirst().dropLast()) }
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") { return String(text[text.index(after: text.startIndex)..<close]) }
        if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") { return String(text[..<colon]) }
        return text
    }
}
