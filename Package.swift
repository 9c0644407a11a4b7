// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "steward",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "steward", targets: ["steward"]),
        .executable(name: "steward-agent", targets: ["steward-agent"]),
        .executable(name: "steward-runner", targets: ["steward-runner"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket.git", from: "1.6.2"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        .target(
            name: "StewardKit",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto")
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StewardDocuments",
            dependencies: [
                "StewardKit", "StewardRunner",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StewardRunner",
            dependencies: [
                "StewardKit",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StewardInventory",
            dependencies: [
                "StewardKit", "StewardRunner",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StewardStore",
            dependencies: [
                "StewardKit",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StewardImages",
            dependencies: ["StewardKit", "StewardDocuments", "StewardRunner"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StewardServer",
            dependencies: [
                "StewardKit", "StewardDocuments", "StewardStore", "StewardImages",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StewardAgent",
            dependencies: [
                "StewardKit", "StewardRunner", "StewardInventory",
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "steward",
            dependencies: [
                "StewardKit", "StewardServer", "StewardStore", "StewardAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "WSClient", package: "swift-websocket"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "steward-agent",
            dependencies: [
                "StewardAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "steward-runner",
            dependencies: [
                "StewardRunner", "StewardDocuments", "StewardKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // Folders for tests, one per test process, removed at exit.
        .target(name: "StewardTestSupport", path: "Tests/StewardTestSupport", swiftSettings: swiftSettings),
        .testTarget(
            name: "StewardKitTests",
            dependencies: ["StewardKit", "StewardDocuments", "StewardRunner"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StewardRunnerTests",
            dependencies: ["StewardTestSupport", "StewardKit", "StewardRunner", "StewardDocuments"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StewardAgentTests",
            dependencies: ["StewardTestSupport", "StewardKit", "StewardAgent", "StewardRunner"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StewardInventoryTests",
            dependencies: ["StewardTestSupport", "StewardInventory", "StewardKit"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StewardImagesTests",
            dependencies: ["StewardImages", "StewardKit", "StewardRunner", "StewardTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StewardStoreTests",
            dependencies: ["StewardTestSupport", "StewardKit", "StewardStore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StewardIntegrationTests",
            dependencies: [
                "StewardKit", "StewardStore", "StewardServer", "StewardAgent",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
