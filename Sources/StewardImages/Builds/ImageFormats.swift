import Foundation

/// Image files made and read without mounting: ext4 with `mke2fs -d` and `debugfs rdump`, qcow2 with `qemu-img`,
/// root file system tarballs with `tar`, and zstd streams of either.
public enum ImageFormats {
    /// What an image file holds, told by its first bytes.
    public enum Kind: String, Sendable {
        case qcow2
        case rawExt4 = "raw"
        /// A raw ext4 image compressed as one zstd stream: the distribution file of a published image.
        case rawExt4Zstd = "raw.zst"
        case tarball = "tar"
    }

    static let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
    /// The window of the published `raw.zst` (128 MiB): long matches across the image, and still within what `zstd -d`
    /// accepts without `--long` or `--memory`.
    public static let zstdWindowLog = 27

    public static func kind(of file: String) async throws -> Kind {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw BuildFailure("cannot read \(file)") }
        defer { try? handle.close() }
        var head = Array(handle.readData(ofLength: 1082))
        if head.starts(with: [0x51, 0x46, 0x49, 0xFB]) { return .qcow2 }
        let compressed = head.starts(with: zstdMagic)
        if compressed {
            // Only the first kilobyte of what the stream holds tells raw from tar.
            let out = try await HostCommand.capture([
                "/bin/sh", "-c", "zstd -dcq --long=31 \(HostCommand.quote(file)) 2>/dev/null | head -c 1082",
            ])
            head = Array(out.stdoutBytes)
        }
        // The ext2/3/4 superblock starts at byte 1024; its magic 0xEF53 is at offset 56 in it.
        if head.count >= 1082, head[1080] == 0x53, head[1081] == 0xEF { return compressed ? .rawExt4Zstd : .rawExt4 }
        return .tarball
    }

    /// Unpacks an image file (tarball, compressed or not; raw ext4; qcow2 holding ext4) into an empty folder.
    public static func extract(_ file: String, into folder: String, scratch: String) async throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        switch try await kind(of: file) {
        case .tarball:
            // GNU tar tells gzip, xz and zstd compression by their magic.
            try await HostCommand.run(["tar", "--numeric-owner", "-xpf", file, "-C", folder])
        case .rawExt4:
            try await extractExt4(file, into: folder)
        case .rawExt4Zstd:
            let raw = "\(scratch)/decompressed.raw"
            defer { try? FileManager.default.removeItem(atPath: raw) }
            try await HostCommand.run(["zstd", "-dq", "-f", "--long=31", "--sparse", file, "-o", raw])
            try await extractExt4(raw, into: folder)
        case .qcow2:
            let raw = "\(scratch)/converted.raw"
            try await HostCommand.run(["qemu-img", "convert", "-O", "raw", file, raw])
            defer { try? FileManager.default.removeItem(atPath: raw) }
            guard try await kind(of: raw) == .rawExt4 else {
                throw BuildFailure("\(file) holds no bare ext4 file system (partitioned disks are not supported)")
            }
            try await extractExt4(raw, into: folder)
        }
    }

    /// Copies the tree of an ext4 image into a folder with `debugfs rdump` (regular files, links and folders;
    /// device nodes are not copied).
    public static func extractExt4(_ image: String, into folder: String) async throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let out = try await HostCommand.capture(["debugfs", "-R", "rdump / \(folder)", image])
        guard out.exitCode == 0, !out.stderr.contains("rdump: ") else {
            throw BuildFailure("debugfs could not read \(image): \(out.stderr.split(separator: "\n").suffix(2).joined(separator: " / "))")
        }
        // rdump of / writes the root's entries into the folder itself; it keeps modes, owners and times, but writes
        // every name of a hard-linked file as a copy of its own.
        try await restoreHardLinks(image: image, tree: folder)
    }

    /// Links again the names that were one file in an ext4 image and that `debugfs rdump` copied apart: every folder
    /// of the extracted tree is listed with its inode numbers in one `debugfs` run. Answers how many names were linked.
    @discardableResult
    public static func restoreHardLinks(image: String, tree: String) async throws -> Int {
        let folders = try await HostCommand.run(["find", tree, "-xdev", "-type", "d", "-printf", "%P\\n"])
            .split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
            .filter { !$0.contains("\"") }
        let commands = "\(tree).debugfs-ls"
        try Data(folders.map { "ls -p \"/\($0)\"\n" }.joined().utf8).write(to: URL(fileURLWithPath: commands))
        defer { try? FileManager.default.removeItem(atPath: commands) }
        let listing = "\(tree).debugfs-out"
        defer { try? FileManager.default.removeItem(atPath: listing) }
        try await HostCommand.shell(
            "debugfs -f \(HostCommand.quote(commands)) \(HostCommand.quote(image)) >\(HostCommand.quote(listing)) 2>/dev/null")
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: listing)), as: UTF8.self)
        // Each listing follows the echo of its command, in the order given: `/inode/mode/uid/gid/name/size/`.
        var names: [String: [String]] = [:]
        var index = -1
        for line in text.split(separator: "\n") {
            if line.hasPrefix("debugfs: ") {
                index += 1
                continue
            }
            let f = line.split(separator: "/", omittingEmptySubsequences: false)
            guard index >= 0, index < folders.count, f.count >= 7, f[2].hasPrefix("10") else { continue }
            let folder = folders[index]
            names[String(f[1]), default: []].append(folder.isEmpty ? String(f[5]) : "\(folder)/\(f[5])")
        }
        var linked = 0
        let fm = FileManager.default
        for paths in names.values where paths.count > 1 {
            let first = "\(tree)/\(paths[0])"
            for other in paths.dropFirst() {
                let path = "\(tree)/\(other)"
                guard (try? fm.removeItem(atPath: path)) != nil else { continue }
                try fm.linkItem(atPath: first, toPath: path)
                linked += 1
            }
        }
        return linked
    }

    /// Sizes of a raw ext4 image: its apparent size and what it takes on disk.
    public struct RawImage: Sendable {
        public var path: String
        public var bytes: Int
        public var allocated: Int
    }

    /// Writes a folder into a new ext4 image file, root-owned, then checks it, discards free blocks (holes in the
    /// file) and shrinks the file system to its minimum; the file is cut to the file system's end.
    public static func makeExt4(from folder: String, to image: String, log: BuildLogSink) async throws -> RawImage {
        let used = try await HostCommand.treeBytes(folder)
        let inodes =
            Int(
                try await HostCommand.run(["sh", "-c", "find \(HostCommand.quote(folder)) -xdev | wc -l"]).trimmingCharacters(
                    in: .whitespacesAndNewlines)) ?? 1000
        // Room for metadata and the journal; resize2fs -M takes the slack back.
        let size = max(used + used / 3 + inodes * 512 + (48 << 20), 64 << 20)
        try? FileManager.default.removeItem(atPath: image)
        try await HostCommand.run([
            "mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-d", folder, "-E", "root_owner=0:0,assume_storage_prezeroed=1", "-N",
            "\(inodes + 4096)",
            "-L", "steward-root", image, "\(size / 1024)k",
        ])
        let fsck = try await HostCommand.capture(["e2fsck", "-fy", "-E", "discard", image])
        guard fsck.exitCode <= 1 else { throw BuildFailure("e2fsck found errors in the new image (exit \(fsck.exitCode))") }
        try await HostCommand.run(["resize2fs", "-M", image])
        let info = try await HostCommand.run(["dumpe2fs", "-h", image])
        func field(_ name: String) -> Int {
            info.split(separator: "\n").first { $0.hasPrefix(name) }.flatMap {
                Int($0.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "")
            } ?? 0
        }
        let bytes = field("Block count") * field("Block size")
        if bytes > 0 { try await HostCommand.run(["truncate", "-s", "\(bytes)", image]) }
        // Blocks freed by the shrink are zero-filled data in the file now; punch them out again.
        _ = try? await HostCommand.capture(["fallocate", "--dig-holes", image])
        await log("ext4 image: \(bytes) bytes, \(HostCommand.allocatedBytes(image)) on disk (tree \(used) bytes)")
        return RawImage(path: image, bytes: bytes, allocated: HostCommand.allocatedBytes(image))
    }

    /// A qcow2 copy of a raw image with zstd-compressed clusters. Large images use 256 KiB clusters (about 7 % smaller
    /// for a minimal Debian); small ones keep the default 64 KiB, where the larger tables would cost more.
    public static func makeQcow2(from raw: String, to image: String) async throws {
        try? FileManager.default.removeItem(atPath: image)
        let cluster = HostCommand.fileSize(raw) > 128 << 20 ? "256K" : "64K"
        try await HostCommand.run([
            "qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd,cluster_size=\(cluster)", raw, image,
        ])
    }

    /// The distribution file of an image: its shrunk raw ext4 compressed as one zstd stream with a long window, so that
    /// like files far apart in the image still share matches. Free blocks are zero and cost nearly nothing; what is
    /// left over the floor is ext4's own metadata (inode tables, bitmaps, the journal's header).
    public static func makeRawZstd(from raw: String, to file: String, level: Int = 19) async throws {
        try? FileManager.default.removeItem(atPath: file)
        try await HostCommand.run([
            "zstd", "-q", "-\(level)", "-T0", "--long=\(zstdWindowLog)", "-f", raw, "-o", file,
        ])
    }

    /// A `tar --zstd` (level 19) of a tree: the practical floor of the image's size.
    public static func makeTarZstd(from folder: String, to file: String, level: Int = 19) async throws {
        try? FileManager.default.removeItem(atPath: file)
        try await HostCommand.run([
            "tar", "--numeric-owner", "--xattrs", "--use-compress-program=zstd -q -\(level) -T0", "-cpf", file, "-C", folder, ".",
        ])
    }

    /// Copies a folder tree exactly (owners, modes, links, devices), cheaply where the file system can share blocks.
    public static func copyTree(_ from: String, to: String) async throws {
        try FileManager.default.createDirectory(atPath: to, withIntermediateDirectories: true)
        try await HostCommand.run(["cp", "-a", "--reflink=auto", "\(from)/.", to])
    }

    /// The sha256 of a file, as hex.
    public static func sha256(_ file: String) async throws -> String {
        String(try await HostCommand.run(["sha256sum", file]).prefix(64))
    }
}
