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
        .executable(name: "aq-relay", targets: ["aq-relay"]),
        // The relay as a library (issue 15): embed a queue's relay or subscription in a program.
        .library(name: "ArrayRelay", targets: ["ArrayRelay"]),
        // The C ABI (include/arrayqueues.h, docs/C_API.md): libArrayQueuesC.so.
        .library(name: "ArrayQueuesC", type: .dynamic, targets: ["ArrayQueuesC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        // Issue 15: /metrics over HTTP (swift-prometheus on swift-metrics, FlyingFox for a light
        // HTTP server) and DocC catalogs (swift package generate-documentation).
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
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
            // Crash points (Queue/CrashPoint.swift) exist in debug builds only, where tests run.
            swiftSettings: strictSwift + [.define("AQ_CRASH_POINTS", .when(configuration: .debug))]
        ),
        .executableTarget(
            name: "aq",
            dependencies: [
                "ArrayQueues",
                "ArrayTransport",
                "ArrayRelay",
                "AQCommandLine",
                "DemoFrames",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        // Self-checking frames for the demos of `aq` and `aq-relay`.
        .target(name: "DemoFrames", swiftSettings: strictSwift),
        // Deterministic payloads that tests and the helper process both generate and verify.
        .target(
            name: "ArrayQueuesTestSupport",
            dependencies: ["ArrayQueues", "CArrayQueuesShims"],
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
            dependencies: ["aq", "ArrayQueuesTestSupport"],
            swiftSettings: strictSwift
        ),
        // userfaultfd(2) for the tests: a page fault a test holds open (LockedCopyFaultTests).
        .target(name: "CUserFaults", path: "Tests/CUserFaults"),
        .testTarget(
            name: "ArrayQueuesTests",
            dependencies: ["ArrayQueues", "ArrayQueuesTestSupport", "ArrayQueuesTestHelper", "CUserFaults"],
            exclude: ["python"],
            swiftSettings: strictSwift
        ),
        // libzmq from Debian's libzmq3-dev (scripts/bootstrap installs it). No pkgConfig: Debian's
        // libzmq.pc adds -isystem flags that SwiftPM rejects with a warning, and the headers and
        // library are in the default paths.
        .systemLibrary(name: "CZeroMQ", providers: [.apt(["libzmq3-dev"])]),
        // The one reader of the kernel's `struct tcp_info`, for ArrayTransport and ArrayRelay. Not
        // part of CZeroMQ: importing that into ArrayRelay re-declares `sockaddr_in` and hides
        // FlyingFox's extensions on it; this header declares no socket types.
        .target(name: "CTCPInfo"),
        // Arrays over ZeroMQ in the arrf/1 wire format (docs/WIRE.md).
        .target(
            name: "ArrayTransport",
            dependencies: [
                "ArrayQueues",
                "CZeroMQ",
                "CTCPInfo",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "ArrayTransportTests",
            dependencies: [
                "ArrayTransport",
                "ArrayQueues",
                "ArrayQueuesTestSupport",
                // The fast-path tests run `aq recv` as a separate process (in a private /dev/shm too).
                "aq",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ComplexModule", package: "swift-numerics"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["python"],
            swiftSettings: strictSwift
        ),
        // The relay daemon: local queues ⇄ ZeroMQ streams (argument-parser, swift-log, service lifecycle, TOML config).
        .executableTarget(
            name: "aq-relay",
            dependencies: [
                "ArrayQueues",
                "ArrayTransport",
                "ArrayRelay",
                "AQCommandLine",
                "DemoFrames",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSwift
        ),
        // MARK: Issue 15: the relay as a library, and what both executables share.
        // The relay pump, its counters and metrics, and settings resolution (no TOML, no
        // argument parsing: the executable turns those into ConfigTable and the overrides).
        .target(
            name: "ArrayRelay",
            dependencies: [
                "ArrayQueues",
                "ArrayTransport",
                "CTCPInfo",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "FlyingFox", package: "FlyingFox"),
            ],
            swiftSettings: strictSwift
        ),
        // The command-line support of `aq` and `aq-relay`: argument types, the error reporter and
        // exit statuses, and the version (read from the C header, its one place).
        .target(
            name: "AQCommandLine",
            dependencies: [
                "ArrayQueues",
                "ArrayTransport",
                "ArrayRelay",
                "CArrayQueuesC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // In-process tests of the pump, the settings and the command-line values.
        .testTarget(
            name: "ArrayRelayTests",
            dependencies: ["ArrayRelay", "AQCommandLine", "ArrayQueues", "ArrayQueuesTestSupport", "ArrayTransport", "CArrayQueuesC", "aq", "aq-relay"],
            swiftSettings: strictSwift
        ),
        // Runs the built `aq-relay` executable as real processes (loopback and ipc:// only).
        .testTarget(
            name: "AQRelayTests",
            dependencies: ["aq-relay", "ArrayQueues", "ArrayTransport", "ArrayQueuesTestSupport"],
            swiftSettings: strictSwift
        ),
        // MARK: The C ABI (issue 11): the header and per-thread error state in C, the
        // functions exported from Swift with @c, and tests that compile C programs against it.
        .target(name: "CArrayQueuesC", exclude: ["arrayqueues.pc.in"]),
        .target(
            name: "ArrayQueuesC",
            dependencies: ["CArrayQueuesC", "ArrayQueues", "ArrayTransport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "ArrayQueuesCTests",
            dependencies: ["ArrayQueuesC", "ArrayQueuesTestSupport"],
            exclude: ["c"],
            swiftSettings: strictSwift
        ),
    ]
)
