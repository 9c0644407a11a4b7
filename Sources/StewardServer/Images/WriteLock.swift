/// Runs Image Builder's writes one at a time in this server, so that the checks a create makes (the version is free,
/// the next build number, the client token is new) still hold when it writes. Waiters go in arrival order.
actor WriteLock {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if busy {
            await withCheckedContinuation { waiters.append($0) }
        } else {
            busy = true
        }
    }

    func release() {
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()
        }
    }

}
