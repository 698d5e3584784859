import APKCore
import APKCrypto
import Foundation
import SystemIO

/// Reads the small regular files of a data tar ahead of the tar writer, on worker threads: each
/// file's content, SHA-1 (for its pax header) and xattrs. The writer's thread is then left with the
/// tar headers and the copy into the compressor's chunks; without this, a tree of many small files
/// kept it busy with open/read/close/flistxattr and SHA-1 while the deflate threads waited
/// (measured on the 20,000-file benchmark tree: a core idle 40% of the time).
///
/// Files go in batches of consecutive entries (at most `maxFiles` files and `maxBytes` bytes); at
/// most `window` batches are read or waiting at once, each into one of `window` buffers allocated
/// up front, so memory is fixed (`window × maxBytes`) whatever the tree. Files larger than
/// `maxBytes` are left to the writer, which streams them.
final class FileReadAhead {
    /// One batch: filled by one worker, then read by the writer's thread only after `done`.
    final class Batch: @unchecked Sendable {
        /// Indices into the entries, in order.
        let members: [Int]
        /// One of the read-ahead's buffers, lent for this batch while it is in flight.
        var storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        var offsets: [Int] = []
        var sha1: [[UInt8]] = []
        var xattrs: [[(name: String, value: [UInt8])]] = []
        /// The first member that could not be read (its position in `members`) and why.
        var failure: (Int, any Error)?
        let done = DispatchSemaphore(value: 0)
        /// Set by the writer's thread once it has waited on `done`.
        var ready = false
        init(members: [Int]) { self.members = members }

        func read(_ entries: [TreeEntry], root: String) {
            offsets.reserveCapacity(members.count)
            sha1.reserveCapacity(members.count)
            xattrs.reserveCapacity(members.count)
            var at = 0
            let opener = TreeFileOpener(root: root)
            for (k, i) in members.enumerated() {
                let size = Int(entries[i].size)
                do {
                    let src = try opener.file(entries[i].path)
                    let attrs = StagedTree.xattrs(of: src)
                    // Up to one byte more than the size: a file that grew is caught, not cut.
                    var got = 0
                    while got <= size {
                        let n = try src.read(into: UnsafeMutableRawBufferPointer(rebasing: storage[(at + got)..<(at + size + 1)]))
                        if n == 0 { break }
                        got += n
                    }
                    guard got == size else { throw FormatError.changedWhilePackaging(src.path) }
                    offsets.append(at)
                    sha1.append(Digest.hash(.sha1, UnsafeRawBufferPointer(rebasing: storage[at..<(at + size)])))
                    xattrs.append(attrs)
                    at += size
                } catch {
                    failure = (k, error)
                    return
                }
            }
        }
    }

    private let entries: [TreeEntry]
    private let root: String
    private let pool: WorkerPool
    private let batches: [Batch]
    private let window: Int
    private var submitted = 0
    /// The batch and the position in it of the next entry to take.
    private var cursor = (batch: 0, member: 0)
    /// `window` buffers of `maxBytes + 1` bytes, allocated once: batch `b` reads into buffer
    /// `b % window`, free again by then since at most `window` batches are in flight.
    private let buffers: UnsafeMutableRawBufferPointer
    private let bufferSize: Int

    /// Reads ahead the regular files of `entries` (below `root`) that are not hard links to an
    /// earlier path and hold at most `maxBytes`.
    init(entries: [TreeEntry], root: String, threads: Int, maxFiles: Int = 256, maxBytes: Int = 512 << 10, window: Int = 4) {
        var batches: [Batch] = []
        var current: [Int] = []
        var bytes = 0
        for (i, e) in entries.enumerated() where e.kind == .file && e.hardlinkTo == nil && e.size <= Int64(maxBytes) {
            let size = Int(e.size)
            if current.count == maxFiles || (bytes + size > maxBytes && !current.isEmpty) {
                batches.append(Batch(members: current))
                current = []
                bytes = 0
            }
            current.append(i)
            bytes += size
        }
        if !current.isEmpty { batches.append(Batch(members: current)) }
        self.entries = entries
        self.root = root
        self.batches = batches
        self.window = max(1, window)
        bufferSize = maxBytes + 1
        buffers = .allocate(byteCount: batches.isEmpty ? 0 : bufferSize * self.window, alignment: 64)
        pool = WorkerPool(threads: max(1, threads), name: "apkit-read")
        submit(upTo: self.window)
    }

    deinit {
        pool.stop()
        // Batches still being read write into `buffers`: wait for them before freeing it (the
        // writer stopped early, on an error).
        for batch in batches[0..<submitted] where !batch.ready { batch.done.wait() }
        buffers.deallocate()
    }

    private func submit(upTo end: Int) {
        while submitted < min(end, batches.count) {
            let b = batches[submitted]
            let start = (submitted % window) * bufferSize
            b.storage = UnsafeMutableRawBufferPointer(rebasing: buffers[start..<(start + bufferSize)])
            let entries = self.entries, root = self.root
            pool.submit { b.read(entries, root: root); b.done.signal() }
            submitted += 1
        }
    }

    /// Calls `body` with the content, SHA-1 and xattrs of entry `entry` once they are read, and
    /// returns true; false when that entry is not read ahead (the writer reads it itself).
    /// Entries are taken in order.
    func take(_ entry: Int, _ body: (UnsafeRawBufferPointer, [UInt8], [(name: String, value: [UInt8])]) throws -> Void) throws -> Bool {
        guard cursor.batch < batches.count, batches[cursor.batch].members[cursor.member] == entry else { return false }
        let b = cursor.batch, k = cursor.member
        let batch = batches[b]
        if !batch.ready {
            submit(upTo: b + window)
            batch.done.wait()
            batch.ready = true
        }
        if let (bad, error) = batch.failure, bad <= k { throw error }
        cursor = k + 1 == batch.members.count ? (b + 1, 0) : (b, k + 1)
        let size = Int(entries[entry].size), at = batch.offsets[k]
        try body(UnsafeRawBufferPointer(rebasing: batch.storage[at..<(at + size)]), batch.sha1[k], batch.xattrs[k])
        if cursor.batch != b { batch.offsets = []; batch.sha1 = []; batch.xattrs = [] }  // done with it
        return true
    }
}
