import Foundation
import StewardRunner
import StewardTestSupport
import Testing

@testable import StewardImages

@Suite("Programs bundled with their shared libraries, to run in a root that lacks them")
struct RuntimeBundleTests {
    @Test("ldd output: libraries by the name asked for, the interpreter, no vDSO")
    func lddLines() {
        let text = """
            \tlinux-vdso.so.1 (0x00007ffd5b9f2000)
            \tlibswiftCore.so => /usr/share/swift/usr/lib/swift/linux/libswiftCore.so (0x00007f3c1a000000)
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3c19e00000)
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f3c1a6a5000)
            """
        let parsed = RuntimeBundle.parseLdd(text)
        #expect(
            parsed.libraries == [
                "libswiftCore.so": "/usr/share/swift/usr/lib/swift/linux/libswiftCore.so", "libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6",
            ])
        #expect(parsed.interpreter == "/lib64/ld-linux-x86-64.so.2")
    }

    @Test("A bundled program runs through its own loader and libraries, and its run path names only the bundle")
    func bundledProgramRuns() async throws {
        let folder = Scratch.folder("bundle")
        let bundle = try await RuntimeBundle.make(programs: ["/bin/ls"], in: folder, prefix: folder)
        #expect(FileManager.default.fileExists(atPath: "\(folder)/lib/libc.so.6"))
        let listed = try await ChildProcess.run(
            executable: bundle.path(of: "ls"), arguments: ["-d", folder], environment: [:], workingDirectory: nil, timeout: .seconds(10))
        #expect(listed.exitCode == 0)
        #expect(String(decoding: listed.stdout, as: UTF8.self) == folder + "\n")
        let interpreter = try await ChildProcess.run(
            executable: "/usr/bin/patchelf", arguments: ["--print-interpreter", bundle.path(of: "ls")], environment: [:],
            workingDirectory: nil, timeout: .seconds(10))
        #expect(String(decoding: interpreter.stdout, as: UTF8.self) == "\(folder)/lib/ld-linux-x86-64.so.2\n")
    }
}
