import Synchronization

/// Bounds the sequences in flight (running and waiting in the engine): a request that would push
/// the count past `limit` is turned away with 429 instead of queueing without end.
final class AdmissionControl: Sendable {
    let limit: Int
    private let inFlight = Mutex(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Holds `count` places until the returned reservation is released or dropped; nil when they
    /// are not free. A request larger than the whole limit is let in alone, so it is not refused
    /// forever.
    func reserve(_ count: Int) -> Reservation? {
        let granted = inFlight.withLock { current in
            guard current == 0 || current + count <= limit else { return false }
            current += count
            return true
        }
        return granted ? Reservation(control: self, count: count) : nil
    }

    var count: Int { inFlight.withLock { $0 } }

    fileprivate func release(_ count: Int) {
        inFlight.withLock { $0 -= count }
    }

    /// Places held for one request; given back when released or deallocated, whichever is first.
    final class Reservation: Sendable {
        private let control: AdmissionControl
        private let count: Int
        private let isReleased = Mutex(false)

        fileprivate init(control: AdmissionControl, count: Int) {
            self.control = control
            self.count = count
        }

        func release() {
            let first = isReleased.withLock { released in
                defer { released = true }
                return !released
            }
            if first { control.release(count) }
        }

        deinit { release() }
    }
}
