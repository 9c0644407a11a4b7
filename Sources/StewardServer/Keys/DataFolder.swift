import Crypto
import Foundation

/// The server's data folder: the master key, the server's signing key and large blobs such as full outputs.
///
/// Key files are created with mode 0600 and never leave the folder.
public struct DataFolder: Sendable {
    public let path: String

    public init(path: String) throws {
        self.path = URL(fileURLWithPath: path).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
        chmod(self.path, 0o700)
    }

    public var databasePath: String { "\(path)/steward.db" }
    public var outputsPath: String { "\(path)/outputs" }
    /// Session transcripts, by region.
    public var sessionsPath: String { "\(path)/sessions" }

    /// The 256-bit master key that seals secrets at rest; from `STEWARD_MASTER_KEY_FILE` if set.
    public func masterKey() throws -> SymmetricKey {
        let file = ProcessInfo.processInfo.environment["STEWARD_MASTER_KEY_FILE"] ?? "\(path)/master.key"
        return SymmetricKey(data: try loadOrCreate(file: file, size: 32))
    }

    /// The Ed25519 key the server signs agent messages with; agents pin its public half at registration.
    public func serverSigningKey() throws -> Curve25519.Signing.PrivateKey {
        try Curve25519.Signing.PrivateKey(rawRepresentation: loadOrCreate(file: "\(path)/server-signing.key", size: 32))
    }

    func loadOrCreate(file: String, size: Int) throws -> Data {
        if let data = FileManager.default.contents(atPath: file) {
            guard data.count == size else { throw DataFolderError("\(file) should hold \(size) bytes, not \(data.count)") }
            return data
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        let data = Data(bytes)
        try SecureFile.write(data, to: file)
        return data
    }
}

struct DataFolderError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Writes files that hold secrets: mode 0600, written to a temporary name, synced and renamed into place.
public enum SecureFile {
    public static func write(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw DataFolderError("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        let ok = data.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        fsync(fd)
        close(fd)
        guard ok, rename(tmp, path) == 0 else { throw DataFolderError("cannot write \(path)") }
    }
}

/// AES-GCM sealing of small secrets under the master key, as base64 text.
public struct SecretBox: Sendable {
    let key: SymmetricKey

    public init(key: SymmetricKey) { self.key = key }

    public func seal(_ plaintext: String) throws -> String {
        try AES.GCM.seal(Data(plaintext.utf8), using: key).combined!.base64EncodedString()
    }

    public func open(_ sealed: String) throws -> String {
        guard let data = Data(base64Encoded: sealed) else { throw DataFolderError("sealed value is not base64") }
        return String(decoding: try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key), as: UTF8.self)
    }
}
