import CBuildInfo

/// What `banksync --version` prints: the release version and the git commit a release build was made from.
enum BuildInfo {
    static let version = "1.0.0"

    static var commit: String { String(cString: banksync_git_commit()) }

    static var description: String { "banksync \(version) (commit \(commit))" }
}
