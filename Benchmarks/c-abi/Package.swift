// swift-tools-version:6.2
// c-abi-bench: the C ABI's hot paths against the Swift API's, in one process, one queue, one
// run (docs/C_API.md, "Cost"). A package of its own, like aq-bench, so the library's build stays light.
import PackageDescription

let package = Package(
    name: "CABIBenchmark",
    dependencies: [.package(name: "ArrayQueues", path: "../..")],
    targets: [
        .executableTarget(
            name: "c-abi-bench",
            dependencies: [
                .product(name: "ArrayQueues", package: "ArrayQueues"),
                .product(name: "ArrayQueuesC", package: "ArrayQueues"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // One path's put/get pairs in one process, for callgrind and the malloc_count.so preload.
        .executableTarget(
            name: "ops-count",
            dependencies: [.product(name: "ArrayQueues", package: "ArrayQueues")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
