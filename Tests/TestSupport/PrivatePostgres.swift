import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL server of a test's own (initdb into a folder under `.build/`, a private port and socket),
/// for the tests that restart the server: the suite's shared server must stay up for the other tests.
/// As root it runs as the `postgres` user, as scripts/test does.
public struct PrivatePostgres: Sendable {
    public let directory: URL
    public let port: Int
    let binaries: URL

    public var connectionString: String { "host=\(directory.path) port=\(port) user=postgres dbname=postgres" }

    public static func with<T>(_ body: (PrivatePostgres) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("banksync-pg-\(UUID().uuidString.prefix(8))")
        let server = PrivatePostgres(directory: directory, port: Int.random(in: 41_000...49_000), binaries: try binariesDirectory())
        do {
            try await server.create()
            try await server.run("pg_ctl", ["-D", server.dataDirectory, "-l", directory.appendingPathComponent("postgres.log").path, "-w", "-t", "30",
                                            "-o", "-p \(server.port) -k \(directory.path) -c listen_addresses='' -c fsync=off", "start"])
            let result = try await body(server)
            await server.destroy()
            return result
        } catch {
            await server.destroy()
            throw error
        }
    }

    var dataDirectory: String { directory.appendingPathComponent("pgdata").path }

    /// A fast restart, as a failover or an operator would: every session is terminated.
    public func restart() async throws {
        try await run("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "-t", "30", "restart"])
    }

    func create() async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: directory.path)
        try await run("initdb", ["-D", dataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"])
    }

    func destroy() async {
        try? await run("pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs a PostgreSQL tool (as `postgres` when we are root), its output into a file: not a pipe, which the
    /// server `pg_ctl start` leaves running would keep open. posix_spawn + waitpid on a thread of its own:
    /// Foundation's `Process` did not notice these children exit here.
    func run(_ tool: String, _ arguments: [String]) async throws {
        let path = binaries.appendingPathComponent(tool).path
        let argv = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", path] + arguments : [path] + arguments
        let log = directory.appendingPathComponent("\(tool).out").path
        let status: Int32 = await BankSyncProcess.onOwnThread {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
            var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
            defer { cArguments.forEach { free($0) } }
            var pid: pid_t = 0
            guard posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ) == 0 else { return -1 }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }
        guard status == 0 else {
            throw PrivatePostgresError.failed(tool, "exit \(status): " + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
        }
    }

    public static func binariesDirectory() throws -> URL {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        guard let version = versions.compactMap(Int.init).max() else { throw PrivatePostgresError.failed("initdb", "no PostgreSQL under /usr/lib/postgresql") }
        return root.appendingPathComponent("\(version)/bin")
    }
}

public enum PrivatePostgresError: Error { case failed(String, String) }
