import Foundation

/// Runs the real `banksync` executable as a child process, as cron or an operator would.
public struct BankSyncProcess {
    public struct Outcome: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    public static var executable: URL {
        if let path = ProcessInfo.processInfo.environment["BANKSYNC_BIN"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.appendingPathComponent(".build/debug/banksync")
    }

    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Starts `banksync arguments…` with exactly `environment` (plus PATH) and returns the running process.
    public static func start(_ arguments: [String], environment: [String: String], tool: URL? = nil) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = tool ?? executable
        process.arguments = arguments
        var env = environment
        env["PATH"] = ProcessInfo.processInfo.environment["PATH"]
        process.environment = env
        process.currentDirectoryURL = packageRoot
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }

    /// Runs another program of the checkout (a script under `scripts/`) to completion, the same way.
    public static func runTool(_ path: String, _ arguments: [String], environment: [String: String]) async throws -> Outcome {
        let (process, out, err) = try start(arguments, environment: environment, tool: URL(fileURLWithPath: path))
        return await finish(process, out, err)
    }

    /// Runs `banksync arguments…` to completion.
    public static func run(_ arguments: [String], environment: [String: String]) async throws -> Outcome {
        let (process, out, err) = try start(arguments, environment: environment)
        return await finish(process, out, err)
    }

    public static func finish(_ process: Process, _ out: Pipe, _ err: Pipe) async -> Outcome {
        // Pipe reads and waitUntilExit block their thread: never on the cooperative pool, which the
        // in-process sandboxes answering this very child need.
        async let stdout = onOwnThread { out.fileHandleForReading.readDataToEndOfFile() }
        async let stderr = onOwnThread { err.fileHandleForReading.readDataToEndOfFile() }
        let (outData, errData) = await (stdout, stderr)
        await onOwnThread { process.waitUntilExit() }
        return Outcome(status: process.terminationStatus,
                       stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self))
    }

    public static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }
}
