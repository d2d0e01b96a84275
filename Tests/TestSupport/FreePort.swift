import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Ports for child servers (`banksync serve`) that a test starts.
public enum FreePort {
    /// A TCP port on 127.0.0.1 that is free now (and `port + 1` too when `pair`), chosen below Linux's ephemeral
    /// range (32768–60999): never one the kernel hands to an in-process sandbox server or to an outgoing
    /// connection. A random pick inside that range could be a sandbox server's port: the child then failed to bind
    /// and the test talked to the wrong server.
    public static func pick(pair: Bool = false) -> Int {
        for _ in 0..<500 {
            let port = Int.random(in: 20_000...32_000)
            if isFree(port), !pair || isFree(port + 1) { return port }
        }
        return Int.random(in: 20_000...32_000)
    }

    static func isFree(_ port: Int) -> Bool {
        withLoopbackSocket(port) { descriptor, address, length in bind(descriptor, address, length) == 0 }
    }

    /// Whether something accepts connections on 127.0.0.1:`port` now (a child server that has started).
    public static func isListening(_ port: Int) -> Bool {
        withLoopbackSocket(port) { descriptor, address, length in connect(descriptor, address, length) == 0 }
    }

    /// A fresh TCP socket and the address 127.0.0.1:`port`, handed to `body`; the socket is closed afterwards.
    private static func withLoopbackSocket(_ port: Int, _ body: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Bool) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}
