import Foundation

/// What index editing needs of an entry, whatever its format.
public protocol IndexedPackage: Equatable {
    var name: String { get }
    var version: String { get }
    var arch: String { get }
}

extension IndexedPackage {
    /// Name, version and arch: an index holds one entry per key.
    public var indexKey: String { name + "\u{0}" + version + "\u{0}" + arch }
}

/// Merge and prune, shared by the index formats.
public enum IndexEditing {
    /// Adds `new` entries; an existing entry with the same name, version and architecture is replaced.
    /// Returns how many entries were replaced (by a different entry).
    public static func merge<E: IndexedPackage>(_ entries: inout [E], _ new: [E]) -> Int {
        guard !new.isEmpty else { return 0 }
        // Only entries named like a new one can be replaced: the others cost one lookup of their
        // name, and no key is built for them (a few packages merged into 100,000 entries).
        let names = Set(new.map(\.name))
        var position: [String: Int] = [:]
        position.reserveCapacity(new.count)
        if names.count <= 4 {
            // A few names: compared as they are (a length check, then the bytes) rather than hashed.
            let few = Array(names)
            for i in entries.indices where few.contains(entries[i].name) { position[entries[i].indexKey] = i }
        } else {
            for i in entries.indices where names.contains(entries[i].name) { position[entries[i].indexKey] = i }
        }
        var replaced = 0
        for e in new {
            if let p = position[e.indexKey] {
                if entries[p] != e { replaced += 1 }
                entries[p] = e
            } else {
                position[e.indexKey] = entries.count
                entries.append(e)
            }
        }
        return replaced
    }

    /// `entries` with one entry per name, version and arch: the last one listed, where the first
    /// stood (what merging them one by one into an empty index gives). Keys are built only for
    /// names listed more than once.
    public static func uniqued<E: IndexedPackage>(_ entries: [E]) -> [E] {
        if uniqueWhenSortedByName(entries) == true { return entries }
        var seen = Set<String>(minimumCapacity: entries.count), repeated = Set<String>()
        for e in entries where !seen.insert(e.name).inserted { repeated.insert(e.name) }
        guard !repeated.isEmpty else { return entries }
        var out: [E] = []
        out.reserveCapacity(entries.count)
        var position: [String: Int] = [:]
        for e in entries {
            guard repeated.contains(e.name) else { out.append(e); continue }
            let key = e.indexKey
            if let p = position[key] { out[p] = e } else { position[key] = out.count; out.append(e) }
        }
        return out
    }

    /// Entries listed by name (bytewise, as indexes are written): whether every key is listed
    /// once, found by comparing neighbours, with keys built only for runs of one name; nil when
    /// they are not in that order.
    static func uniqueWhenSortedByName<E: IndexedPackage>(_ entries: [E]) -> Bool? {
        var i = 0
        while i < entries.count {
            let name = entries[i].name
            var j = i + 1
            while j < entries.count, entries[j].name == name { j += 1 }
            if j < entries.count, bytewiseCompare(name, entries[j].name) >= 0 { return nil }
            if j - i > 1 {
                var keys = Set<String>()
                for k in i..<j where !keys.insert(entries[k].indexKey).inserted { return false }
            }
            i = j
        }
        return true
    }

    /// `a` against `b` by their UTF-8 bytes (memcmp, then length), as index entries are sorted.
    public static func bytewiseCompare(_ a: String, _ b: String) -> Int {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let n = min(x.count, y.count)
                let c = n == 0 ? 0 : Int(memcmp(x.baseAddress!, y.baseAddress!, n))
                return c != 0 ? c : x.count - y.count
            }
        }
    }

    /// Keeps the newest `keep` versions of each package name (apk version order); returns the removed entries.
    public static func prune<E: IndexedPackage>(_ entries: inout [E], keep: Int) -> [E] {
        precondition(keep >= 1)
        var byName: [String: [String]] = [:]
        for e in entries { byName[e.name, default: []].append(e.version) }
        var dropped: Set<String> = [] // "name\0version"
        for (name, versions) in byName {
            var distinct = Array(Set(versions))
            guard distinct.count > keep else { continue }
            distinct.sort { a, b in
                switch APKVersion.compare(a, b) {
                case .greater: return true
                case .less: return false
                case .equal: return a.utf8.lexicographicallyPrecedes(b.utf8)
                }
            }
            for v in distinct[keep...] { dropped.insert(name + "\u{0}" + v) }
        }
        guard !dropped.isEmpty else { return [] }
        var removed: [E] = []
        entries.removeAll { e in
            if dropped.contains(e.name + "\u{0}" + e.version) { removed.append(e); return true }
            return false
        }
        return removed
    }
}
