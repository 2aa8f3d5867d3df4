// swift-tools-version:6.2
// aq-bench: throughput and latency of ArrayQueues, each figure against a raw baseline measured
// in the same run. A separate package so that the library's own build stays light.
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "ArrayQueuesBenchmarks",
    dependencies: [
        .package(name: "ArrayQueues", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // futex wait/wake and a spin hint for the raw baselines (syscall() is variadic: C only),
        // and the libzmq C API used directly, the baseline of the zmq-* scenarios (libzmq from
        // Debian's libzmq3-dev, as the root package's CZeroMQ).
        .target(name: "CBenchShims", linkerSettings: [.linkedLibrary("zmq")]),
        .executableTarget(
            name: "aq-bench",
            dependencies: [
                "CBenchShims",
                .product(name: "ArrayQueues", package: "ArrayQueues"),
                .product(name: "ArrayTransport", package: "ArrayQueues"),
                // Not linked: built next to aq-bench, which runs its hidden `bench` subcommand (scenario `relay`).
                .product(name: "aq-relay", package: "ArrayQueues"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                // The zmq-* workers log only warnings (the fast path's switch is logged at info).
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
    ]
)
