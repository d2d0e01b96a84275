import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A body over the limit is refused without being read: from its Content-Length before a byte of it arrives, or
/// once a chunked body passes the limit; the answer comes at once (a webhook's is still 200) and the connection
/// closes, although the client never sent the rest.
@Suite struct OversizedBodyTests {
    @Test func aWebhookAnnouncingAnOversizedBodyIsAnsweredAndClosedBeforeTheBodyIsSent() async throws {
        try await PullAPIHarness.with { api in
            let socket = try RawSocket(port: api.port)
            defer { socket.close() }
            socket.send("POST /webhooks/flowpay HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "x-flowpay-ts: 2026-01-01T00:00:00Z\r\nx-flowpay-sig: \(String(repeating: "0", count: 64))\r\n"
                        + "Content-Length: 1048576\r\n\r\n" + String(repeating: "x", count: 1_000))
            let answer = socket.receiveUntilClosed()
            #expect(answer.text.hasPrefix("HTTP/1.1 200"), "\(answer.text.prefix(80))")
            #expect(answer.text.lowercased().contains("connection: close"))
            #expect(answer.closed, "the connection was closed without the remaining 1,047,576 bytes")
        }
    }

    @Test func aChunkedWebhookIsCutAtTheLimitAndTheConnectionClosed() async throws {
        try await PullAPIHarness.with { api in
            let socket = try RawSocket(port: api.port)
            defer { socket.close() }
            let chunk = String(repeating: "y", count: 20 << 10)
            socket.send("POST /webhooks/flowpay HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                        + "x-flowpay-ts: 2026-01-01T00:00:00Z\r\nx-flowpay-sig: \(String(repeating: "0", count: 64))\r\n\r\n"
                        + String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n")
            // The body never ends: the server must neither wait for it nor keep reading.
            let answer = socket.receiveUntilClosed()
            #expect(answer.text.hasPrefix("HTTP/1.1 200"), "\(answer.text.prefix(80))")
            #expect(answer.closed, "the connection was closed though the body never ended")
        }
    }

    /// No endpoint but the webhook takes a body: a large one announced on any other path is a 413, closed.
    @Test func anOversizedBodyElsewhereIs413() async throws {
        try await PullAPIHarness.with { api in
            let socket = try RawSocket(port: api.port)
            defer { socket.close() }
            socket.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10485760\r\n\r\n")
            let answer = socket.receiveUntilClosed()
            #expect(answer.text.hasPrefix("HTTP/1.1 413"), "\(answer.text.prefix(80))")
            #expect(answer.closed)
            #expect(try await api.getWithoutKey("/healthz").status == 200, "other connections are served")
        }
    }
}

/// A blocking TCP client on 127.0.0.1, to send exactly the bytes a test wants (an incomplete body).
struct RawSocket {
    let fd: Int32

    init(port: Int) throws {
        fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw RawSocketError.cannotConnect(port)
        }
        // A bound on a broken server, not a measurement: a correct one answers at once.
        var timeout = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return }
            sent += count
        }
    }

    /// Everything the server sends until it closes the connection (`closed`), or until nothing comes for the timeout.
    func receiveUntilClosed() -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0 { received += buffer[0..<count]; continue }
            // 0: an orderly close; ECONNRESET: closed with our unread bytes still in its socket. Both are closed.
            return (String(decoding: received, as: UTF8.self), count == 0 || errno == ECONNRESET)
        }
    }

    func close() { Glibc.close(fd) }
}

enum RawSocketError: Error {
    case cannotConnect(Int)
}
