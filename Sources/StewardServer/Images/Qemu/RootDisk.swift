import Foundation
import StewardImages

/// The root disk of a QEMU build instance, a raw ext4 image with no partition table, made without mounting.
enum RootDisk {
    /// Makes `image` from `source`: a folder becomes a new ext4 file system (`mke2fs -d`), sized at twice its contents
    /// plus 1 GiB, sparse; a raw ext4 image is copied sparsely (the source stays as it was) and grown the same way.
    static func make(from source: InstanceSource, image: String) async throws {
        switch source.layout {
        case .folder:
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isFolder), isFolder.boolValue else {
                throw QemuError("the instance source \(source.path) is not a folder")
            }
            let used = try await HostTool.sh("du -sk \(shellQuoted(source.path)) | cut -f1", what: "sizing the root disk")
            let megabytes = (Int(used.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) / 1024 * 2 + 1024
            try await HostTool.sh(
                "mke2fs -q -F -t ext4 -E root_owner=0:0 -d \(shellQuoted(source.path)) \(shellQuoted(image)) \(megabytes)M",
                what: "making the root disk from \(source.path)")
        case .rawExt4:
            guard FileManager.default.fileExists(atPath: source.path) else {
                throw QemuError("the instance source \(source.path) does not exist")
            }
            // A captured image was shrunk to its minimum: the copy gets room to work in, as a machine started from it
            // would grow its root to its disk (sparse, so the room costs nothing until it is written).
            let q = shellQuoted(image)
            try await HostTool.sh(
                "cp --sparse=always \(shellQuoted(source.path)) \(q) && size=$(stat -c %s \(q)) && "
                    + "truncate -s $((size * 2 + 1073741824)) \(q) && { e2fsck -fp \(q) >/dev/null 2>&1; [ $? -le 1 ]; } && "
                    + "resize2fs \(q) >/dev/null",
                what: "copying and growing the root disk \(source.path)")
        }
    }

    /// Replays the journal of a root that was not unmounted cleanly (the machine had to be killed), so that tools that
    /// read the image without the kernel (`debugfs`, `mke2fs -d` captures, `resize2fs`) see every write.
    static func repair(_ image: String) async {
        _ = try? await HostTool.sh("e2fsck -f -y \(shellQuoted(image)) >/dev/null 2>&1 || [ $? -le 2 ]", what: "checking the root disk")
    }
}
