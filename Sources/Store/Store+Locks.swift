import Postgres

extension Store {
    /// Customer locks live in their own advisory-lock key space (the high 32 bits say "customer").
    static func customerLockKey(_ customerID: Int64) -> Int64 { (customerLockKeyPrefix << 32) | (customerID & 0xffff_ffff) }
    /// The customers' lock key space (`customerLockKey`), also computed in SQL by the claim.
    static let customerLockKeyPrefix: Int64 = 0x4253

    /// Takes the customer's session lock if no other worker holds it. It dies with this database session,
    /// so a killed worker's customers are free again at once.
    public func tryLockCustomer(_ customerID: Int64) throws -> Bool {
        try connection.tryAdvisoryLock(Self.customerLockKey(customerID))
    }

    public func unlockCustomer(_ customerID: Int64) throws {
        try connection.advisoryUnlock(Self.customerLockKey(customerID))
    }
}
