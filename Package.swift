// swift-tools-version:6.0
import PackageDescription

/// Targets follow docs in ../shared/DESIGN.md §2, lowest first.
let package = Package(
    name: "swift-omni",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "omni", targets: ["omni"]),
        .library(name: "OmniTensor", targets: ["OmniTensor"]),
        .library(name: "OmniWeights", targets: ["OmniWeights"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CLibPNG",
            path: "Sources/CLibPNG",
            providers: [.apt(["libpng-dev"])]
        ),
        .target(
            name: "CKernels",
            path: "Sources/CKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]
        ),
        .target(
            name: "OmniTensor",
            dependencies: ["CKernels", "COpenBLAS"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .target(name: "OmniWeights", dependencies: ["OmniTensor"]),
        .target(name: "OmniTokenizer"),
        .target(name: "OmniModels", dependencies: ["OmniTensor", "OmniWeights"]),
        .target(name: "OmniEngine", dependencies: ["OmniModels", "CKernels"]),
        .target(name: "OmniPipeline", dependencies: ["OmniEngine", "OmniTokenizer", "OmniWeights", "OmniModels", "OmniMedia"]),
        .target(
            name: "OmniServer",
            dependencies: [
                "OmniPipeline", "OmniEngine", "OmniTokenizer", "OmniMedia", "OmniTensor", "OmniModels",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(name: "OmniMedia", dependencies: ["CLibPNG"]),
        .target(name: "OmniBench", dependencies: ["OmniTensor", "CKernels", "OmniWeights", "OmniModels", "OmniEngine", "OmniPipeline", "OmniMedia"]),
        .executableTarget(
            name: "omni",
            dependencies: [
                "OmniPipeline", "OmniServer", "OmniBench", "OmniEngine", "OmniTokenizer", "OmniMedia", "OmniTensor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "OmniTensorTests", dependencies: ["OmniTensor", "OmniWeights", "CKernels"]),
        .testTarget(name: "OmniWeightsTests", dependencies: ["OmniWeights"]),
        .testTarget(name: "OmniTokenizerTests", dependencies: ["OmniTokenizer"]),
        .testTarget(name: "OmniEngineTests", dependencies: ["OmniEngine", "OmniModels", "OmniTensor", "OmniWeights"]),
        .testTarget(name: "OmniPipelineTests", dependencies: ["OmniPipeline", "OmniEngine", "OmniTokenizer", "OmniModels", "OmniTensor", "OmniWeights", "OmniMedia"]),
        .testTarget(name: "OmniServerTests", dependencies: ["OmniServer", "OmniEngine", "OmniTokenizer"]),
        .testTarget(name: "OmniModelsTests", dependencies: ["OmniModels", "OmniWeights", "OmniTensor"]),
        .testTarget(name: "OmniMediaTests", dependencies: ["OmniMedia"]),
        .testTarget(name: "OmniBenchTests", dependencies: ["OmniBench", "OmniMedia", "OmniModels", "OmniWeights"]),
    ]
)
