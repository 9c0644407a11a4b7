import Foundation
import StewardTestSupport

/// Runs a program for a test and returns its standard output, or nil when it is not installed or fails.
func output(of program: String, _ arguments: [String]) -> String? {
    guard
        let path = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map({ "\($0)/\(program)" }).first(where: FileManager.default.isExecutableFile)
    else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self)
}

/// A fresh folder under the temporary directory.
func temporaryFolder(_ label: String) throws -> String {
    let path = Scratch.folder("inventory-\(label)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
