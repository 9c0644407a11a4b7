import Foundation

/// A host program carried into a root file system that lacks its shared libraries (a busybox root has none): the
/// binary and every library `ldd` lists go into one folder of the tree, and the program starts through the bundled
/// dynamic loader, `ld-linux-x86-64.so.2 --library-path DIR BINARY`.
public struct RunnerBundle: Sendable {
    /// The folder inside the tree, from `/`.
    public var folder: String
    /// The program's name in `<folder>/bin`.
    public var program: String
    /// The loader's name in `<folder>/lib`; nil for a static program.
    public var loader: String?

    /// The command line, inside the tree, that starts the program.
    public var command: [String] {
        guard let loader else { return ["\(folder)/bin/\(program)"] }
        return ["\(folder)/lib/\(loader)", "--library-path", "\(folder)/lib", "\(folder)/bin/\(program)"]
    }

    /// Copies `binary` and its libraries into `<root><folder>`.
    public static func install(_ binary: String, into root: String, folder: String) async throws -> RunnerBundle {
        let fm = FileManager.default
        let program = (binary as NSString).lastPathComponent
        try fm.createDirectory(atPath: "\(root)\(folder)/bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(root)\(folder)/lib", withIntermediateDirectories: true)
        let ldd = try await HostCommand.capture(["ldd", binary])
        let listing = ldd.exitCode == 0 ? ldd.stdout : ""
        var loader: String?
        for line in listing.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            // `libx.so.1 => /path/libx.so.1 (0x...)`, or the loader alone: `/lib64/ld-linux-x86-64.so.2 (0x...)`.
            let path: String?
            if let arrow = words.firstIndex(of: "=>"), arrow + 1 < words.count, words[arrow + 1].hasPrefix("/") {
                path = words[arrow + 1]
            } else if let first = words.first, first.hasPrefix("/") {
                path = first
            } else {
                path = nil
            }
            guard let path else { continue }
            let name = (path as NSString).lastPathComponent
            if name.hasPrefix("ld-linux") { loader = name }
            try await HostCommand.run(["cp", "-L", path, "\(root)\(folder)/lib/\(name)"])
        }
        try await HostCommand.run(["cp", "-L", binary, "\(root)\(folder)/bin/\(program)"])
        return RunnerBundle(folder: folder, program: program, loader: loader)
    }
}
