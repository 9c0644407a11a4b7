import Crypto
import NIOCore
import StewardKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One end of a direct connection: length-prefixed frames over a NIO channel, sealed once the handshake set the keys.
struct FrameChannel {
    var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    var reader = DirectProtocol.FrameReader()
    var sendCipher: DirectProtocol.Cipher?
    var receiveCipher: DirectProtocol.Cipher?

    init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    /// The next frame, or nil when the peer closed.
    mutating func readFrame() async throws -> Data? {
        while true {
            if let frame = try reader.next() { return frame }
            guard let buffer = try await inbound.next() else { return nil }
            reader.append(buffer.readableBytesView)
        }
    }

    func writeFrame(_ payload: Data) async throws {
        try await outbound.write(ByteBuffer(bytes: DirectProtocol.frame(payload)))
    }

    mutating func readClear<T: Decodable>(_ type: T.Type) async throws -> T? {
        guard let frame = try await readFrame() else { return nil }
        return try JSONDecoder().decode(T.self, from: frame)
    }

    /// Sets the keys: from here on every frame is sealed.
    mutating func secure(send: SymmetricKey, receive: SymmetricKey) {
        sendCipher = DirectProtocol.Cipher(key: send)
        receiveCipher = DirectProtocol.Cipher(key: receive)
    }

    mutating func readMessage() async throws -> DirectMessage? {
        guard let frame = try await readFrame() else { return nil }
        guard var cipher = receiveCipher else { throw DirectRefusal(.malformed, "a sealed frame before the handshake") }
        let plaintext: Data
        do { plaintext = try cipher.open(frame) } catch {
            throw DirectRefusal(.malformed, "a frame does not open with the channel's key")
        }
        receiveCipher = cipher
        return try JSONDecoder().decode(DirectMessage.self, from: plaintext)
    }

    mutating func writeMessage(_ message: DirectMessage) async throws {
        guard var cipher = sendCipher else { throw DirectRefusal(.malformed, "no channel key yet") }
        let sealed = try cipher.seal(DirectProtocol.encode(message))
        sendCipher = cipher
        try await writeFrame(sealed)
    }
}

extension FrameChannel {
    /// Hands the sending side to another task (which then writes while this one reads); this end no longer writes.
    mutating func takeWriter() -> FrameWriter {
        defer { sendCipher = nil }
        return FrameWriter(outbound: outbound, cipher: sendCipher)
    }
}

/// The sending side of a ``FrameChannel``, for a task of its own.
struct FrameWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    var cipher: DirectProtocol.Cipher?

    mutating func writeMessage(_ message: DirectMessage) async throws {
        guard var sending = cipher else { throw DirectRefusal(.malformed, "no channel key yet") }
        let sealed = try sending.seal(DirectProtocol.encode(message))
        cipher = sending
        try await outbound.write(ByteBuffer(bytes: DirectProtocol.frame(sealed)))
    }
}

extension DirectProtocol {
    /// 32 random bytes, base64.
    static func randomToken() -> String {
        var rng = SystemRandomNumberGenerator()
        return Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }).base64EncodedString()
    }
}
