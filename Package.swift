// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "BankSync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "banksync", targets: ["banksync"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(name: "Postgres", dependencies: ["CLibPQ"]),
        .target(
            name: "BankSyncCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "Store",
            dependencies: [
                "Postgres", "BankSyncCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "banksync",
            dependencies: [
                "Postgres", "BankSyncCore", "Store",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"]),
        .testTarget(name: "BankSyncCoreTests", dependencies: [
            "BankSyncCore",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "StoreTests", dependencies: [
            "Store", "Postgres", "BankSyncCore", "TestSupport",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport"]),
        .target(name: "TestSupport", dependencies: ["Postgres"], path: "Tests/TestSupport"),
    ],
    swiftLanguageModes: [.v6]
)
