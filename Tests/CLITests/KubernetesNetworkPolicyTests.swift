import Foundation
import Testing
import TestSupport

/// The shipped Kubernetes files parse as YAML (PyYAML, which `scripts/test` installs when missing), and the
/// NetworkPolicy admits only the scraper to `serve`'s metrics port while its public port stays open.
@Suite struct KubernetesNetworkPolicyTests {
    let folder = BankSyncProcess.packageRoot.appendingPathComponent("scheduler/kubernetes")

    /// Every document of every file under scheduler/kubernetes, as JSON objects.
    func documents() throws -> [[String: Any]] {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        let script = """
            import json, sys, yaml
            print(json.dumps([d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d is not None]))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + files.map { folder.appendingPathComponent($0).path }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let problem = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "the YAML does not parse (or PyYAML is missing: pip install pyyaml): \(problem)")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    @Test func onlyTheScraperReachesTheMetricsPort() throws {
        let documents = try documents()
        let deployment = try #require(documents.first { $0["kind"] as? String == "Deployment" })
        let template = try #require((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])
        let podLabels = try #require((template["metadata"] as? [String: Any])?["labels"] as? [String: String])
        let container = try #require(((template["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first)
        let ports = try #require(container["ports"] as? [[String: Any]])
        let metricsPort = try #require(ports.first { $0["name"] as? String == "metrics" }?["containerPort"] as? Int)
        let httpPort = try #require(ports.first { $0["name"] as? String == "http" }?["containerPort"] as? Int)

        let policy = try #require(documents.first { $0["kind"] as? String == "NetworkPolicy" }, "no NetworkPolicy is shipped")
        let spec = try #require(policy["spec"] as? [String: Any])
        let selected = try #require((spec["podSelector"] as? [String: Any])?["matchLabels"] as? [String: String])
        #expect(selected.allSatisfy { podLabels[$0.key] == $0.value }, "the policy selects serve's pods")
        #expect((spec["policyTypes"] as? [String])?.contains("Ingress") == true)
        let rules = try #require(spec["ingress"] as? [[String: Any]])
        func admits(_ rule: [String: Any], _ port: Int) -> Bool {
            guard let rulePorts = rule["ports"] as? [[String: Any]] else { return true }   // no ports: every port
            return rulePorts.contains { $0["port"] as? Int == port || $0["port"] as? String == "metrics" && port == metricsPort }
        }
        let toMetrics = rules.filter { admits($0, metricsPort) }
        #expect(!toMetrics.isEmpty, "the scraper is admitted")
        for rule in toMetrics {
            let sources = rule["from"] as? [[String: Any]] ?? []
            #expect(!sources.isEmpty, "a rule admits everyone to the metrics port")
            for source in sources {
                // Both selectors in one entry: the scraper's pods in the scraper's namespace, nobody else.
                #expect(source["namespaceSelector"] != nil && source["podSelector"] != nil && source["ipBlock"] == nil, "\(source)")
            }
        }
        #expect(rules.contains { admits($0, httpPort) && $0["from"] == nil }, "the public port stays open behind the Ingress")
    }
}
