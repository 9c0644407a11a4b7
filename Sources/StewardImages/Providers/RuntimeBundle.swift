import Foundation
import StewardRunner

/// Steward's programs made runnable inside a root file system that has none of their shared libraries (a busybox
/// root, a distribution without the Swift runtime): each program and every library `ldd` names are copied into one
/// folder, and the programs' ELF interpreter and run path are pointed at that folder with `patchelf`. The copies
/// then run from wherever the folder appears inside the instance, and a program still finds its siblings next to
/// itself (`steward-agent` starts `steward-runner` from its own folder).
///
/// Layout: `<folder>/bin/<program>` and `<folder>/lib/<library>`; `prefix` is where `<folder>` is seen inside the
/// instance (for example `/opt/steward`).
public struct RuntimeBundle: Sendable, Equatable {
    public let folder: String
    public let prefix: String
    public let programs: [String]

    /// The path of `program` inside the instance.
    public func path(of program: String) -> String { "\(prefix)/bin/\(program)" }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Makes the bundle in `folder` (created if missing; a bundle already there is replaced).
    /// `stripDebug` drops the programs' debug information (a debug build's binary is mostly that).
    public static func make(programs executables: [String], in folder: String, prefix: String, stripDebug: Bool = false)
        async throws -> RuntimeBundle
    {
        let files = FileManager.default
        try? files.removeItem(atPath: folder)
        for sub in ["bin", "lib"] { try files.createDirectory(atPath: "\(folder)/\(sub)", withIntermediateDirectories: true) }
        var libraries: [String: String] = [:]
        var interpreter: String?
        for executable in executables {
            let needed = try await sharedLibraries(of: executable)
            interpreter = interpreter ?? needed.interpreter
            for (name, path) in needed.libraries { libraries[name] = path }
        }
        guard let interpreter else { throw Failure(description: "ldd names no ELF interpreter for \(executables.joined(separator: ", "))") }
        let loaderName = (interpreter as NSString).lastPathComponent
        libraries[loaderName] = interpreter
        for (name, path) in libraries {
            // Copy the file a symbolic link names, under the name the program asks for.
            // (`resolvingSymlinksInPath` leaves a relative last link such as libstdc++.so.6 -> libstdc++.so.6.0.30
            // unresolved here, and a copied link would dangle: ask the C library for the real file.)
            guard let real = realpath(path, nil) else { throw Failure(description: "cannot resolve \(path)") }
            defer { free(real) }
            try files.copyItem(atPath: String(cString: real), toPath: "\(folder)/lib/\(name)")
        }
        var names: [String] = []
        for executable in executables {
            let name = (executable as NSString).lastPathComponent
            let copy = "\(folder)/bin/\(name)"
            try files.copyItem(atPath: executable, toPath: copy)
            if stripDebug { try await run("/usr/bin/strip", "--strip-debug", copy) }
            try await patch(copy, "--set-interpreter", "\(prefix)/lib/\(loaderName)", "--set-rpath", "\(prefix)/lib")
            names.append(name)
        }
        return RuntimeBundle(folder: folder, prefix: prefix, programs: names)
    }

    /// The shared libraries an executable loads (name as asked for → file on this host) and its ELF interpreter.
    static func sharedLibraries(of executable: String) async throws -> (libraries: [String: String], interpreter: String?) {
        let outcome = try await ChildProcess.run(
            executable: "/usr/bin/ldd", arguments: [executable], environment: ["PATH": "/usr/bin:/bin"], workingDirectory: nil,
            timeout: .seconds(30))
        let text = String(decoding: outcome.stdout, as: UTF8.self)
        guard outcome.exitCode == 0 else {
            throw Failure(description: "ldd \(executable) failed: \(String(decoding: outcome.stderr, as: UTF8.self))")
        }
        return parseLdd(text)
    }

    /// Reads `ldd` output: `libX.so.1 => /path/libX.so.1 (0x...)` lines, the interpreter's `/lib64/ld-linux-x86-64.so.2
    /// (0x...)` line; `linux-vdso.so.1` has no file and is left out.
    static func parseLdd(_ text: String) -> (libraries: [String: String], interpreter: String?) {
        var libraries: [String: String] = [:]
        var interpreter: String?
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 3, fields[1] == "=>", fields[2].hasPrefix("/") {
                libraries[String(fields[0])] = String(fields[2])
            } else if let first = fields.first, first.hasPrefix("/") {
                interpreter = String(first)
            }
        }
        return (libraries, interpreter)
    }

    static func patch(_ file: String, _ arguments: String...) async throws {
        try await run(["/usr/bin/patchelf"] + arguments + [file])
    }

    static func run(_ argv: String...) async throws { try await run(argv) }

    static func run(_ argv: [String]) async throws {
        let outcome = try await ChildProcess.run(
            executable: argv[0], arguments: Array(argv.dropFirst()), environment: ["PATH": "/usr/bin:/bin"],
            workingDirectory: nil, timeout: .seconds(60))
        guard outcome.exitCode == 0 else {
            throw Failure(description: "\(argv.joined(separator: " ")) failed: \(String(decoding: outcome.stderr, as: UTF8.self))")
        }
    }
}
