// swift-tools-version:6.2
// fanout-bench: the same-host fast path of pub/sub with several local subscribers. Its own small
// package, and it uses only ArrayTransport's public API, so that the same harness builds against
// another checkout of the library (AQ_PACKAGE_ROOT, default: this one) and compares them in one run.
import PackageDescription

let root = Context.environment["AQ_PACKAGE_ROOT"] ?? "../.."
// A library before the borrowing receive (issue 14's baseline) builds with AQ_BASELINE_API set:
// then only the copying subscriber exists.
let borrowing: [SwiftSetting] = Context.environment["AQ_BASELINE_API"] == nil ? [.define("BORROWING_RECEIVE")] : []

let package = Package(
    name: "FanOutBenchmark",
    dependencies: [
        .package(name: "ArrayQueues", path: root),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "fanout-bench",
            dependencies: [
                .product(name: "ArrayQueues", package: "ArrayQueues"),
                .product(name: "ArrayTransport", package: "ArrayQueues"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)] + borrowing
        ),
    ]
)
