import Dispatch
import Foundation
import Synchronization

/// The one worker-pool primitive: a fixed set of threads taking `@Sendable` jobs from a FIFO
/// queue, with an optional bound on queued jobs (`submit` blocks while it is full, so memory stays
/// bounded however fast the producer is). With one thread jobs run in submission order.
///
/// Jobs learn the index of the thread running them (0..<threads), so per-thread resources (a
/// compressor, a buffer) can be kept in an array indexed by it. The threads hold the pool until
/// `stop()`: call it when done.
public final class WorkerPool: Sendable {
    private struct State {
        var jobs: [@Sendable (Int) -> Void] = []
        var head = 0
        var stopping = false
    }
    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    private let slots: DispatchSemaphore?
    private let running = DispatchGroup()
    private let finished = DispatchGroup()
    public let threads: Int

    /// - Parameters:
    ///   - threads: worker threads (at least 1).
    ///   - backlog: jobs queued or running at most before `submit` waits; nil: unbounded.
    public init(threads: Int, backlog: Int? = nil, name: String = "apkit-worker") {
        self.threads = max(1, threads)
        slots = backlog.map { DispatchSemaphore(value: max(1, $0)) }
        for i in 0..<self.threads {
            finished.enter()
            let t = Thread { [self] in self.run(worker: i) }
            t.name = "\(name)-\(i)"
            t.start()
        }
    }

    public func submit(_ job: @escaping @Sendable (Int) -> Void) {
        slots?.wait()
        running.enter()
        state.withLock { $0.jobs.append(job) }
        available.signal()
    }

    public func submit(_ job: @escaping @Sendable () -> Void) { submit { _ in job() } }

    /// Submits `items` as consecutive batches, one job each: a batch ends with the item that
    /// brings it to `maxCount` items or to `maxWeight` total `weight`. Many small jobs (a file
    /// each) then cost one hand-off per batch instead of one each.
    public func submitBatches<T: Sendable>(_ items: [T], maxCount: Int, maxWeight: Int64 = .max,
                                           weight: (T) -> Int64 = { _ in 0 },
                                           _ job: @escaping @Sendable ([T]) -> Void) {
        var start = 0, total: Int64 = 0
        for i in items.indices {
            total += weight(items[i])
            if i + 1 - start >= maxCount || total >= maxWeight || i == items.count - 1 {
                let batch = Array(items[start...i])
                submit { job(batch) }
                start = i + 1
                total = 0
            }
        }
    }

    /// Blocks until every job submitted so far has run.
    public func waitForAll() { running.wait() }

    /// Lets the threads finish what is queued, then end them (idempotent).
    public func stop() {
        let first = state.withLock { s -> Bool in
            defer { s.stopping = true }
            return !s.stopping
        }
        guard first else { return }
        for _ in 0..<threads { available.signal() }
    }

    private func run(worker: Int) {
        defer { finished.leave() }
        while true {
            available.wait()
            let job: (@Sendable (Int) -> Void)? = state.withLock { s in
                guard s.head < s.jobs.count else { return nil }
                let j = s.jobs[s.head]
                s.head += 1
                if s.head > 64 && s.head * 2 > s.jobs.count { s.jobs.removeFirst(s.head); s.head = 0 }
                return j
            }
            guard let job else { return }  // woken by stop() with nothing queued
            job(worker)
            slots?.signal()
            running.leave()
        }
    }
}
