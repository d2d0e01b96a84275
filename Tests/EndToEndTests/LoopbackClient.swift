import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A one-request HTTP/1.1 client that connects from a chosen loopback address (127.0.0.10, 127.0.0.11, …): Linux
/// routes all of 127.0.0.0/8 to the loopback interface, so a test can play several clients with different
/// addresses, as a reverse proxy or `serve` sees them.
enum LoopbackClient {
    /// The status code of `GET path` on 127.0.0.1:`port`, sent from `source`.
    static func get(port: Int, _ path: String, from source: String, headers: [(String, String)] = []) async throws -> Int {
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
            + headers.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
        let answer = await BankSyncProcess.onOwnThread { exchange(port: port, source: source, request: request) }
        guard let line = answer?.split(separator: "\r\n").first, let code = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw LoopbackClientError.noAnswer(path: path, source: source)
        }
        return code
    }

    /// Sends `request` and returns everything until the server closes the connection (nil: no connection).
    static func exchange(port: Int, source: String, request: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }) == 0,
              withUnsafePointer(to: &remote, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } }) == 0 else {
            return nil
        }
        // A bound on a broken server, not a measurement.
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBufferPointer({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { return nil }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }
}

enum LoopbackClientError: Error, CustomStringConvertible {
    case noAnswer(path: String, source: String)

    var description: String {
        switch self {
        case .noAnswer(let path, let source): "no HTTP answer to GET \(path) from \(source)"
        }
    }
}
