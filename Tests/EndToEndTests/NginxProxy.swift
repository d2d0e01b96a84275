import Foundation
import TestSupport

/// A real nginx (Debian's package; `scripts/test` installs it when missing) in a temporary folder, on a free
/// port of 127.0.0.1, proxying everything to `upstream` the way an ingress does: it appends the client it sees
/// to `X-Forwarded-For` (`$proxy_add_x_forwarded_for`). It connects to the upstream from 127.0.0.2, so the
/// upstream can trust it without trusting a client that connects directly from 127.0.0.1.
struct NginxProxy {
    let port: Int
    let scheme: String
    var baseURL: String { "\(scheme)://127.0.0.1:\(port)" }

    /// TLS in front of the upstream, the way a bank's API gateway does it: nginx presents `certificate`, and with
    /// `clientCA` it requires a client certificate signed by it (mutual TLS) and refuses the request without one.
    struct TLS {
        var certificate: String
        var key: String
        var clientCA: String?
    }

    /// The address nginx connects to the upstream from.
    static let sourceAddress = "127.0.0.2"

    /// `NGINX_BIN`, else Debian's `/usr/sbin/nginx`; nil when neither is there.
    static var binary: String? {
        let candidates = [ProcessInfo.processInfo.environment["NGINX_BIN"], "/usr/sbin/nginx", "/usr/bin/nginx"].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func with<T>(upstreamPort: Int, tls: TLS? = nil, _ body: (NginxProxy) async throws -> T) async throws -> T {
        guard let binary else { throw NginxError.notInstalled }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("banksync-nginx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = FreePort.pick()
        let path = folder.path
        let listen = tls == nil ? "listen 127.0.0.1:\(port);" : """
            listen 127.0.0.1:\(port) ssl;
                    ssl_certificate \(tls!.certificate);
                    ssl_certificate_key \(tls!.key);
            """ + (tls!.clientCA.map { "\n        ssl_client_certificate \($0);\n        ssl_verify_client on;" } ?? "")
        let configuration = """
            daemon off;
            master_process off;
            worker_processes 1;
            pid \(path)/nginx.pid;
            error_log \(path)/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path \(path)/body;
                proxy_temp_path \(path)/proxy;
                fastcgi_temp_path \(path)/fastcgi;
                uwsgi_temp_path \(path)/uwsgi;
                scgi_temp_path \(path)/scgi;
                server {
                    \(listen)
                    location / {
                        proxy_pass http://127.0.0.1:\(upstreamPort);
                        proxy_bind \(sourceAddress);
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_set_header Host $host;
                        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                    }
                }
            }
            """
        try configuration.write(toFile: "\(path)/nginx.conf", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-p", path, "-c", "\(path)/nginx.conf", "-e", "\(path)/error.log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            // SIGKILL: a child started from the test process inherits its blocked signals, and nginx then never
            // acts on SIGTERM (waiting for it hung the suite). Nothing of it needs a graceful stop.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let proxy = NginxProxy(port: port, scheme: tls == nil ? "http" : "https")
        var listening = false
        for _ in 0..<100 where process.isRunning {
            if !FreePort.isListening(port) { try await Task.sleep(for: .milliseconds(50)); continue }
            listening = true
            break
        }
        guard listening else {
            let log = (try? String(contentsOfFile: "\(path)/error.log", encoding: .utf8)) ?? ""
            throw NginxError.didNotStart(log)
        }
        return try await body(proxy)
    }
}

enum NginxError: Error, CustomStringConvertible {
    case notInstalled
    case didNotStart(String)

    var description: String {
        switch self {
        case .notInstalled: "nginx is not installed (scripts/test installs Debian's nginx package)"
        case .didNotStart(let log): "nginx did not start: \(log)"
        }
    }
}
