import Foundation
import Testing
import TestSupport

/// The shipped scheduler files: systemd units verified by systemd-analyze where it exists, the rest checked
/// for what operators rely on.
@Suite struct SchedulerUnitTests {
    let folder = BankSyncProcess.packageRoot.appendingPathComponent("scheduler")

    func text(_ path: String) throws -> String { try String(contentsOf: folder.appendingPathComponent(path), encoding: .utf8) }

    @Test func systemdUnitsVerify() throws {
        let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let analyze else { return }   // not installed here: the content checks below still run
        // Verify copies whose ExecStart points at an executable that exists, so only the units themselves are judged.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("units-\(UUID())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for unit in ["banksync-sync.service", "banksync-sync.timer", "banksync-serve.service"] {
            let content = try text("systemd/" + unit)
                .replacingOccurrences(of: "/usr/local/bin/banksync", with: BankSyncProcess.executable.path)
                .replacingOccurrences(of: "EnvironmentFile=/etc/banksync/banksync.env", with: "EnvironmentFile=-/etc/banksync/banksync.env")
                .replacingOccurrences(of: "User=banksync\nGroup=banksync\n", with: "")
            try content.write(to: scratch.appendingPathComponent(unit), atomically: true, encoding: .utf8)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: analyze)
        process.arguments = ["verify"] + ["banksync-sync.service", "banksync-sync.timer", "banksync-serve.service"].map { scratch.appendingPathComponent($0).path }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        process.waitUntilExit()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // Outside a booted systemd (containers, CI) verify may complain about the manager itself; unit errors name the unit.
        let unitErrors = output.split(separator: "\n").filter { $0.contains("banksync-") }
        #expect(unitErrors.isEmpty, "\(output)")
    }

    @Test func theTimerIsPersistentAndRandomised() throws {
        let timer = try text("systemd/banksync-sync.timer")
        #expect(timer.contains("Persistent=true"))
        #expect(timer.contains("RandomizedDelaySec="))
        #expect(timer.contains("Unit=banksync-sync.service"))
    }

    @Test func everySettingIsInTheEnvironmentTemplateAndNoSecretIsAnArgument() throws {
        let template = try text("banksync.env.example")
        for setting in ["DATABASE_URL", "BANKSYNC_SQL_DIR", "FLOWPAY_ENV", "FLOWPAY_API_URL", "FLOWPAY_TOKEN_URL", "FLOWPAY_AUDIENCE",
                        "FLOWPAY_CLIENT_ID", "FLOWPAY_CLIENT_SECRET", "FLOWPAY_WEBHOOK_SECRET", "GOCARDLESS_API_URL",
                        "GOCARDLESS_SECRET_ID", "GOCARDLESS_SECRET_KEY", "BANKSYNC_LISTEN"] {
            #expect(template.contains(setting), "\(setting) missing from the template")
        }
        for file in ["crontab", "kubernetes/banksync.yaml", "systemd/banksync-sync.service", "systemd/banksync-serve.service"] {
            let content = try text(file)
            #expect(!content.lowercased().contains("secret="), "\(file) passes a secret inline")
        }
        let kubernetes = try text("kubernetes/banksync.yaml")
        #expect(kubernetes.contains("kind: CronJob") && kubernetes.contains("kind: Deployment"))
    }
}
