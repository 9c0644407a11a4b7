import Foundation

/// The kernel and initramfs every QEMU build instance boots, made once from Debian's `linux-image-*-amd64` package
/// and kept in the server's data folder. The package is found on disk (an apt cache folder), never downloaded here,
/// so a build needs no network.
struct QemuAssets: Sendable {
    /// The uncompressed kernel: QEMU boots the ELF directly (PVH), skipping ~3 s of xz decompression under TCG.
    let kernel: String
    let initramfs: String
    /// Busybox (static) for the initramfs and the guest's own scripts.
    let busybox: String
    let kernelVersion: String

    /// Modules the Debian kernel builds as `=m` that a virtio/ext4 guest with a network needs, in load order
    /// (`insmod` resolves no dependencies). `crc32c_generic` is what ext4's checksums need under TCG (no SSE4.2).
    static let modules: [(name: String, path: String)] = [
        ("virtio_ring", "drivers/virtio/virtio_ring"), ("virtio", "drivers/virtio/virtio"),
        ("virtio_pci_modern_dev", "drivers/virtio/virtio_pci_modern_dev"),
        ("virtio_pci_legacy_dev", "drivers/virtio/virtio_pci_legacy_dev"), ("virtio_pci", "drivers/virtio/virtio_pci"),
        ("virtio_blk", "drivers/block/virtio_blk"), ("crc16", "lib/crc16"), ("crc32c_generic", "crypto/crc32c_generic"),
        ("mbcache", "fs/mbcache"), ("jbd2", "fs/jbd2/jbd2"), ("ext4", "fs/ext4/ext4"), ("failover", "net/core/failover"),
        ("net_failover", "drivers/net/net_failover"), ("virtio_net", "drivers/net/virtio_net"),
        ("virtio-rng", "drivers/char/hw_random/virtio-rng"),
    ]

    /// Folders searched for `linux-image-<abi>-amd64_*.deb`: `STEWARD_QEMU_KERNEL_DEBS` (colon-separated), the folder
    /// `.ci/run` downloads to, and apt's own cache.
    static var packageFolders: [String] {
        let configured = ProcessInfo.processInfo.environment["STEWARD_QEMU_KERNEL_DEBS"]?.split(separator: ":").map(String.init) ?? []
        return configured + ["/var/cache/steward/debs", "/var/cache/apt/archives"]
    }

    /// The newest kernel package on disk, if any.
    static func findKernelPackage() -> String? {
        var found: [String] = []
        for folder in packageFolders {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            found += names.filter {
                $0.hasPrefix("linux-image-") && $0.hasSuffix("_amd64.deb") && !$0.contains("-unsigned") && !$0.contains("-dbg")
            }
            .filter { $0.split(separator: "_").first.map { $0.hasSuffix("-amd64") && $0.dropFirst(12).first?.isNumber == true } ?? false }
            .map { "\(folder)/\($0)" }
        }
        return found.max {
            ($0 as NSString).lastPathComponent.compare(($1 as NSString).lastPathComponent, options: .numeric) == .orderedAscending
        }
    }

    /// Static busybox on the host (Debian's `busybox-static`): it runs in any root, including one with no libc.
    static func findBusybox() -> String? {
        for path in ["/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox"] {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            // A dynamic binary names its loader; the static one does not.
            if data.range(of: Data("/lib64/ld-linux".utf8)) == nil { return path }
        }
        return nil
    }

    /// What is missing on this host for QEMU build instances, or nil when nothing is.
    static func missingTools() -> String? {
        if HostTool.find("qemu-system-x86_64") == nil { return "qemu-system-x86_64 (package qemu-system-x86)" }
        for tool in ["mke2fs", "e2fsck", "dpkg-deb", "cpio", "xz", "gzip"] where HostTool.find(tool) == nil { return tool }
        if findBusybox() == nil { return "a static busybox (package busybox-static)" }
        if findKernelPackage() == nil {
            return "a linux-image-*-amd64 .deb in \(packageFolders.joined(separator: ", ")) (apt-get download it there)"
        }
        return nil
    }

    /// Makes the assets under `folder` from the newest kernel package, or reuses them when made before.
    static func prepare(in folder: String) async throws -> QemuAssets {
        if let missing = missingTools() { throw QemuError("QEMU build instances need \(missing)") }
        let package = findKernelPackage()!
        let packageName = (package as NSString).lastPathComponent
        let abi = String(packageName.split(separator: "_")[0].dropFirst("linux-image-".count))
        // The suffix changes whenever the initramfs's script does, so an older one is never reused.
        let dir = "\(folder)/\(packageName.replacingOccurrences(of: ".deb", with: ""))-v2"
        let assets = QemuAssets(
            kernel: "\(dir)/vmlinux", initramfs: "\(dir)/initramfs.cpio.gz", busybox: findBusybox()!, kernelVersion: abi)
        if FileManager.default.fileExists(atPath: "\(dir)/ready") { return assets }

        let work = "\(dir).partial-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: "\(work)/extract", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let base = "./lib/modules/\(abi)/kernel"
        let members = ["./boot/vmlinuz-\(abi)"] + modules.map { "\(base)/\($0.path).ko" }
        try await HostTool.sh(
            "dpkg-deb --fsys-tarfile \(shellQuoted(package)) | tar -x -C \(shellQuoted("\(work)/extract")) \(members.map(shellQuoted).joined(separator: " "))",
            what: "extracting the kernel from \(packageName)")
        try await extractELF(from: "\(work)/extract/boot/vmlinuz-\(abi)", to: "\(work)/vmlinux")

        let root = "\(work)/initramfs"
        for sub in ["bin", "dev", "proc", "sys", "newroot", "lib/modules"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(sub)", withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: assets.busybox, toPath: "\(root)/bin/busybox")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/bin/sh", withDestinationPath: "busybox")
        for module in modules {
            try FileManager.default.copyItem(
                atPath: "\(work)/extract/\(base)/\(module.path).ko", toPath: "\(root)/lib/modules/\(module.name).ko")
        }
        try GuestScripts.initramfsInit(modules: modules.map(\.name)).write(toFile: "\(root)/init", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(root)/init")
        try await HostTool.sh(
            "cd \(shellQuoted(root)) && find . | cpio -o -H newc --quiet | gzip -1 > \(shellQuoted("\(work)/initramfs.cpio.gz"))",
            what: "packing the initramfs")

        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: "\(work)/vmlinux", toPath: assets.kernel)
        try FileManager.default.moveItem(atPath: "\(work)/initramfs.cpio.gz", toPath: assets.initramfs)
        try Data(packageName.utf8).write(to: URL(fileURLWithPath: "\(dir)/ready"))
        return assets
    }

    /// The ELF kernel inside a Debian `vmlinuz`: the xz stream after the boot stub, decompressed by `xz`.
    static func extractELF(from vmlinuz: String, to output: String) async throws {
        guard let image = FileManager.default.contents(atPath: vmlinuz),
            let start = image.range(of: Data([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]))?.lowerBound
        else { throw QemuError("\(vmlinuz) holds no xz-compressed kernel") }
        let stream = "\(output).xz"
        try image[start...].write(to: URL(fileURLWithPath: stream))
        defer { try? FileManager.default.removeItem(atPath: stream) }
        // The stub's trailing bytes follow the stream; --single-stream ignores them.
        try await HostTool.sh(
            "xz -dc --single-stream \(shellQuoted(stream)) > \(shellQuoted(output))", what: "decompressing the kernel")
    }
}
