import HTTPTypes
import NIOCore
@testable import PullAPI
import Testing

/// Which client a request counts as, from its socket peer and its forwarding headers.
@Suite struct ClientAddressTests {
    let proxies: TrustedProxies

    init() throws { proxies = try TrustedProxies(parsing: "10.0.0.0/8, 2001:db8:ffff::/48") }

    func key(peer: String, _ headers: [(String, String)]) throws -> String {
        var fields = HTTPFields()
        for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return ClientAddress.key(peer: try SocketAddress(ipAddress: peer, port: 40_000), headers: fields, trusted: proxies)
    }

    @Test func forwardingHeadersCountOnlyFromATrustedProxy() throws {
        #expect(try key(peer: "198.51.100.7", [("X-Forwarded-For", "203.0.113.1")]) == "198.51.100.7")
        #expect(try key(peer: "198.51.100.7", [("Forwarded", "for=203.0.113.1")]) == "198.51.100.7")
        #expect(try key(peer: "10.1.2.3", [("X-Forwarded-For", "203.0.113.1")]) == "203.0.113.1")
        #expect(try key(peer: "10.1.2.3", []) == "10.1.2.3", "a trusted peer without a header is the client itself")
    }

    /// The right-most hop that is not a trusted proxy: what a client writes to the left of it changes nothing.
    @Test func theRightMostUntrustedHopIsTheClient() throws {
        #expect(try key(peer: "10.1.2.3", [("X-Forwarded-For", "1.1.1.1, 203.0.113.1, 10.9.9.9")]) == "203.0.113.1")
        #expect(try key(peer: "10.1.2.3", [("X-Forwarded-For", "1.1.1.1, 203.0.113.1"), ("X-Forwarded-For", "10.9.9.9")]) == "203.0.113.1")
        #expect(try key(peer: "10.1.2.3", [("X-Forwarded-For", "10.4.4.4, 10.9.9.9")]) == "10.4.4.4", "all ours: the left-most")
        #expect(try key(peer: "10.1.2.3", [("Forwarded", #"for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.9"#)])
                == "2001:db8:cafe::/64")
        #expect(try key(peer: "10.1.2.3", [("Forwarded", "for=192.0.2.60:8080;by=10.0.0.1")]) == "192.0.2.60")
        #expect(try key(peer: "10.1.2.3", [("Forwarded", "for=192.0.2.60"), ("X-Forwarded-For", "203.0.113.1")]) == "203.0.113.1",
                "X-Forwarded-For (what proxies append to) wins over a Forwarded a client may have sent through")
        #expect(try key(peer: "10.1.2.3", [("X-Forwarded-For", "garbage")]) == "unidentified")
        #expect(try key(peer: "2001:db8:ffff:1::5", [("X-Forwarded-For", "203.0.113.1")]) == "203.0.113.1", "an IPv6 proxy")
    }

    @Test func ipv6ClientsAreGroupedBySlash64AndMappedIPv4IsIPv4() throws {
        #expect(try key(peer: "2001:db8:1:2:aaaa::1", []) == "2001:db8:1:2::/64")
        #expect(try key(peer: "2001:db8:1:2:bbbb::9", []) == "2001:db8:1:2::/64")
        #expect(try key(peer: "2001:db8:1:3::1", []) == "2001:db8:1:3::/64")
        #expect(try key(peer: "::ffff:10.1.2.3", [("X-Forwarded-For", "203.0.113.1")]) == "203.0.113.1")
    }

    @Test func trustedProxiesParseCIDRsAndRefuseTheRest() throws {
        #expect(try TrustedProxies(parsing: "10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1").networks.count == 4)
        #expect(try TrustedProxies(parsing: "").networks.isEmpty)
        for bad in ["10.0.0.0/33", "10.0.0.1/8", "ingress", "fd00::/129", "10.0.0.0/", "10.0.0.0/-1", "300.0.0.0/8"] {
            #expect(throws: TrustedProxiesError.self, "\(bad)") { try TrustedProxies(parsing: bad) }
        }
        let parsed = try TrustedProxies(parsing: "192.168.0.0/16")
        #expect(parsed.contains(IPAddress("192.168.44.1")!) && !parsed.contains(IPAddress("192.169.0.1")!))
    }
}
