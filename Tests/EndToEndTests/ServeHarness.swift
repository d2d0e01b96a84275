import AsyncHTTPClient
import Foundation
import TestSupport

/// `banksync serve` as a child process on a free port, with a plain HTTP client (redirects not followed) to
/// play the customer's browser.
struct ServeHarness {
    let port: Int
    let environment: [String: String]
    let http: HTTPClient
    /// The serve process's id (for its memory figures).
    let pid: Int32

    var baseURL: String { "http://127.0.0.1:\(port)" }
    /// `/metrics` has a listener of its own (BANKSYNC_METRICS_LISTEN).
    var metricsURL: String { "http://127.0.0.1:\(port + 1)/metrics" }

    static func with<T>(_ e2e: EndToEnd, extraEnvironment: [String: String] = [:], _ body: (ServeHarness) async throws -> T) async throws -> T {
        let port = FreePort.pick(pair: true)   // serve listens on port and port + 1 (metrics)
        var environment = e2e.environment.merging(extraEnvironment) { $1 }
        environment["BANKSYNC_LISTEN"] = "127.0.0.1:\(port)"
        environment["BANKSYNC_PUBLIC_URL"] = "http://127.0.0.1:\(port)"
        environment["BANKSYNC_METRICS_LISTEN"] = "127.0.0.1:\(port + 1)"
        let (serve, out, err) = try BankSyncProcess.start(["serve"], environment: environment)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        let harness = ServeHarness(port: port, environment: environment, http: http, pid: serve.processIdentifier)
        func stop() async {
            kill(serve.processIdentifier, SIGTERM)
            let outcome = await BankSyncProcess.finish(serve, out, err)
            if ProcessInfo.processInfo.environment["BANKSYNC_TEST_SHOW_SERVE"] != nil { print(outcome.stderr, outcome.stdout) }
            try? await http.shutdown()
        }
        do {
            var ready = false
            for _ in 0..<200 where serve.isRunning {   // wait for serve; one that exited (a port taken) is reported
                if (try? await harness.get("\(harness.baseURL)/healthz"))?.status == 200 {
                    ready = true
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            guard ready else { throw ServeHarnessError.notReady(port: port) }
            let result = try await body(harness)
            await stop()
            return result
        } catch ServeHarnessError.notReady(let port) {
            kill(serve.processIdentifier, SIGTERM)
            let outcome = await BankSyncProcess.finish(serve, out, err)
            try? await http.shutdown()
            throw ServeHarnessError.didNotStart(port: port, status: outcome.status, stderr: outcome.stderr)
        } catch {
            await stop()
            throw error
        }
    }

    /// The serve process's peak resident memory so far, in MB (VmHWM).
    func peakRSSMegabytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else { return nil }
        return kilobytes / 1024
    }

    func get(_ url: String) async throws -> (status: Int, body: String, location: String?) {
        let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(20))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body), response.headers.first(name: "Location"))
    }

    /// `banksync link` with serve's public URL.
    func link(_ arguments: [String]) async throws -> BankSyncProcess.Outcome {
        try await BankSyncProcess.run(["link"] + arguments, environment: environment)
    }
}

enum ServeHarnessError: Error, CustomStringConvertible {
    case notReady(port: Int)
    case didNotStart(port: Int, status: Int32, stderr: String)

    var description: String {
        switch self {
        case .notReady(let port): "banksync serve did not answer /healthz on port \(port)"
        case .didNotStart(let port, let status, let stderr): "banksync serve did not start on port \(port) (exit \(status)): \(stderr)"
        }
    }
}
