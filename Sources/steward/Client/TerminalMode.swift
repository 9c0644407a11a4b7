import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The local terminal in raw mode for an interactive session: every key goes to the remote shell as typed
/// (Ctrl-C included), and nothing is echoed locally. ``restore()`` puts back the settings found; it is safe to call
/// more than once, and from a signal handler's path out.
final class TerminalMode: Sendable {
    private let fd: Int32
    private let saved: termios
    private let restored = OnceFlag()

    /// Switches `fd` to raw mode; nil when it is not a terminal.
    init?(fd: Int32 = 0) {
        guard isatty(fd) == 1 else { return nil }
        var original = termios()
        guard tcgetattr(fd, &original) == 0 else { return nil }
        var raw = original
        cfmakeraw(&raw)
        guard tcsetattr(fd, TCSAFLUSH, &raw) == 0 else { return nil }
        self.fd = fd
        self.saved = original
    }

    func restore() {
        guard restored.setOnce() else { return }
        var settings = saved
        tcsetattr(fd, TCSAFLUSH, &settings)
    }

    /// The size of the terminal on `fd` (columns, rows), if it is one.
    static func size(of fd: Int32 = 1) -> (cols: Int, rows: Int)? {
        var size = winsize()
        guard isatty(fd) == 1, ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return nil }
        return (Int(size.ws_col), Int(size.ws_row))
    }
}

/// Set once, from any thread.
final class OnceFlag: Sendable {
    private let value = Mutex(false)

    /// True the first time only.
    func setOnce() -> Bool {
        value.withLock { set in
            defer { set = true }
            return !set
        }
    }
}
