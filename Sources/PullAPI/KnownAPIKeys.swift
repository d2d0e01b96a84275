import Store

/// The hashes of the API keys that are valid, so the per-address limit can tell Flowpay's poller from an
/// anonymous flood without a database lookup per request: a request whose key is known counts only against its
/// key's own limit. Knowing a hash grants nothing (the request is still authenticated against the database);
/// it only decides which limit counts the request. Filled by every successful authentication and, when an
/// address is over its limit and presents a key not known yet, by re-reading the table at most every
/// `refreshEvery` (a flood of invented keys costs one query per interval, not one per request).
actor KnownAPIKeys {
    let pool: ConnectionPool
    let refreshEvery: Duration
    private var hashes: Set<[UInt8]> = []
    private var loadedAt: ContinuousClock.Instant?

    init(pool: ConnectionPool, refreshEvery: Duration = .seconds(10)) {
        self.pool = pool
        self.refreshEvery = refreshEvery
    }

    func contains(_ hash: [UInt8]) -> Bool { hashes.contains(hash) }

    func learn(_ hash: [UInt8]) { hashes.insert(hash) }

    /// A key the database refused (revoked since): it counts against its address again.
    func forget(_ hash: [UInt8]) { hashes.remove(hash) }

    /// Whether `hash` is a valid key's, re-reading the table first when it was read over `refreshEvery` ago.
    func containsAfterRefresh(_ hash: [UInt8]) async -> Bool {
        if hashes.contains(hash) { return true }
        let now = ContinuousClock.now
        if let loadedAt, loadedAt.duration(to: now) < refreshEvery { return false }
        loadedAt = now   // before the await: concurrent callers do not start a read of their own
        if let active = try? await pool.withReadStore({ try $0.activeAPIKeyHashes() }) { hashes = active }
        return hashes.contains(hash)
    }
}
