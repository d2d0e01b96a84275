/// A dictionary of at most `capacity` entries that forgets the least recently used one (read or written) to
/// make room. O(1) per operation: the entries form a doubly linked list in recency order, held in arrays.
struct LeastRecentlyUsed<Key: Hashable, Value> {
    private struct Node {
        var key: Key
        var value: Value
        var newer: Int?
        var older: Int?
    }

    let capacity: Int
    private var index: [Key: Int] = [:]
    private var nodes: [Node] = []
    private var newest: Int?
    private var oldest: Int?

    init(capacity: Int) { self.capacity = max(capacity, 1) }

    var count: Int { index.count }

    subscript(key: Key) -> Value? {
        mutating get {
            guard let slot = index[key] else { return nil }
            touch(slot)
            return nodes[slot].value
        }
        set {
            guard let newValue else { return }   // removal is never needed: buckets only age out
            if let slot = index[key] {
                nodes[slot].value = newValue
                touch(slot)
                return
            }
            let slot: Int
            if index.count >= capacity, let victim = oldest {
                // Reuse the least recently used slot for the new key.
                unlink(victim)
                index[nodes[victim].key] = nil
                nodes[victim] = Node(key: key, value: newValue)
                slot = victim
            } else {
                nodes.append(Node(key: key, value: newValue))
                slot = nodes.count - 1
            }
            index[key] = slot
            linkAsNewest(slot)
        }
    }

    private mutating func touch(_ slot: Int) {
        guard newest != slot else { return }
        unlink(slot)
        linkAsNewest(slot)
    }

    private mutating func unlink(_ slot: Int) {
        let (newer, older) = (nodes[slot].newer, nodes[slot].older)
        if let newer { nodes[newer].older = older } else { newest = older }
        if let older { nodes[older].newer = newer } else { oldest = newer }
        nodes[slot].newer = nil
        nodes[slot].older = nil
    }

    private mutating func linkAsNewest(_ slot: Int) {
        nodes[slot].older = newest
        nodes[slot].newer = nil
        if let newest { nodes[newest].newer = slot }
        newest = slot
        if oldest == nil { oldest = slot }
    }

    /// Keys from the most to the least recently used (for tests).
    var keysByRecency: [Key] {
        var keys: [Key] = []
        var cursor = newest
        while let slot = cursor {
            keys.append(nodes[slot].key)
            cursor = nodes[slot].older
        }
        return keys
    }
}
