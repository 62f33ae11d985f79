// swift-tools-version:6.2
import PackageDescription

// The benchmarks live in their own package (as swift-nio's do) so that the test build of
// the server never compiles them. Run from this directory:
//   swift package --allow-writing-to-package-directory benchmark
let package = Package(
    name: "ocpp-server-benchmarks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ocpp-loadgen", targets: ["OCPPLoadgen"]),
        .executable(name: "ocpp-stream-subscribers", targets: ["StreamSubscribers"]),
    ],
    dependencies: [
        .package(name: "ocpp-server", path: ".."),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(
            url: "https://github.com/ordo-one/package-benchmark.git",
            from: "1.38.1",
            traits: ["MallocInterposer"]
        ),
    ],
    targets: [
        .executableTarget(
            name: "OCPPLoadgen",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Protocol", package: "ocpp-server"),
            ],
            path: "Sources/OCPPLoadgen",
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility"),
                // The simulator runs on the cores it measures the server on: the runtime's
                // exclusivity checks were 4 % of its CPU (its state is confined to each
                // connection's event loop).
                .unsafeFlags(["-enforce-exclusivity=unchecked"]),
            ]
        ),
        .executableTarget(
            name: "StreamSubscribers",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/StreamSubscribers",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]
        ),
        .executableTarget(
            name: "TimeSeriesBenchmark",
            dependencies: [.product(name: "TimeSeries", package: "ocpp-server")],
            path: "Sources/TimeSeriesBenchmark",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]
        ),
        .executableTarget(
            name: "SoakBenchmark",
            dependencies: [.product(name: "TimeSeries", package: "ocpp-server")],
            path: "Sources/SoakBenchmark",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]
        ),
        .executableTarget(
            name: "FleetBenchmark",
            dependencies: [
                .product(name: "TimeSeries", package: "ocpp-server"),
                .product(name: "Relational", package: "ocpp-server"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/FleetBenchmark",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]
        ),
        .executableTarget(
            name: "RelationalBenchmark",
            dependencies: [
                .product(name: "Relational", package: "ocpp-server"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/RelationalBenchmark",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]
        ),
        .executableTarget(
            name: "KeyHashBenchmark",
            dependencies: [
                .product(name: "Relational", package: "ocpp-server"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Sources/KeyHashBenchmark",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]
        ),
        .executableTarget(
            name: "AuthCheckBenchmark",
            dependencies: [
                .product(name: "API", package: "ocpp-server"),
                .product(name: "Relational", package: "ocpp-server"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/AuthCheckBenchmark",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")]
        ),
        .executableTarget(
            name: "IngestBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Ingest", package: "ocpp-server"),
                .product(name: "TimeSeries", package: "ocpp-server"),
            ],
            path: "Benchmarks/IngestBenchmarks",
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility"),
            ],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "ProtocolBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Protocol", package: "ocpp-server"),
            ],
            path: "Benchmarks/ProtocolBenchmarks",
            swiftSettings: [
                .enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility"),
            ],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
