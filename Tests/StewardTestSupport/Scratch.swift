import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One folder per test process for everything the tests write; removed when the process exits.
public enum Scratch {
    public static let root: String = {
        let path = Scratch.base + "/steward-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Scratch.base + "/steward-tests-\(getpid())") }
        return path
    }()

    /// The temporary directory without a trailing slash.
    public static var base: String {
        var t = NSTemporaryDirectory()
        while t.count > 1 && t.hasSuffix("/") { t.removeLast() }
        return t
    }

    /// A fresh folder under the root.
    public static func folder(_ label: String) -> String {
        let path = "\(root)/\(label)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
