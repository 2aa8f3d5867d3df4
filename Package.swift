// swift-tools-version:6.2
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "ArrayQueues",
    products: [
        .library(name: "ArrayQueues", targets: ["ArrayQueues"]),
        .executable(name: "aq", targets: ["aq"]),
        .library(name: "ArrayTransport", targets: ["ArrayTransport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // futex wrappers and the one definition of the shared-memory layout.
        .target(name: "CArrayQueuesShims"),
        .target(
            name: "ArrayQueues",
            dependencies: [
                "CArrayQueuesShims",
                .product(name: "ComplexModule", package: "swift-numerics"),
                .product(name: "RealModule", package: "swift-numerics"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "aq",
            dependencies: [
                "ArrayQueues",
                "ArrayTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        // Deterministic payloads that tests and the helper process both generate and verify.
        .target(
            name: "ArrayQueuesTestSupport",
            dependencies: ["ArrayQueues"],
            path: "Tests/ArrayQueuesTestSupport",
            swiftSettings: strictSwift
        ),
        // Runs as a separate process: producers, consumers and victims for the cross-process tests.
        .executableTarget(
            name: "ArrayQueuesTestHelper",
            dependencies: ["ArrayQueues", "ArrayQueuesTestSupport"],
            path: "Tests/ArrayQueuesTestHelper",
            swiftSettings: strictSwift
        ),
        // Runs the built `aq` executable as a user would.
        .testTarget(
            name: "AQToolTests",
            dependencies: ["aq"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "ArrayQueuesTests",
            dependencies: ["ArrayQueues", "ArrayQueuesTestSupport", "ArrayQueuesTestHelper"],
            swiftSettings: strictSwift
        ),
        // libzmq, found with pkg-config (Debian: libzmq3-dev).
        // libzmq from Debian's libzmq3-dev (scripts/bootstrap installs it). No pkgConfig: Debian's
        // libzmq.pc adds -isystem flags that SwiftPM rejects with a warning, and the headers and
        // library are in the default paths.
        .systemLibrary(name: "CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
        // Arrays over ZeroMQ in the arrf/1 wire format (docs/WIRE.md).
        .target(
            name: "ArrayTransport",
            dependencies: [
                "ArrayQueues",
                "CZeroMQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "ArrayTransportTests",
            dependencies: [
                "ArrayTransport",
                "ArrayQueues",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ComplexModule", package: "swift-numerics"),
            ],
            exclude: ["python"],
            swiftSettings: strictSwift
        ),
    ]
)
