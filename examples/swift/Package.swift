// swift-tools-version:5.9
// The Swift quickstart: a package of its own that depends on agora-link, as an app would.
// Here it takes the repository by path; an app takes it by URL:
//   .package(url: "https://github.com/agora-link/agora-link", from: "0.1.0")
//
// On Linux, build the library first and tell the linker where it is (docs/swift.md):
//   cargo build --release -p agora-link --lib --features uniffi,wipe-on-free
//   swift run -Xlinker -L../../target/release -Xlinker -rpath -Xlinker ../../target/release
import PackageDescription

let package = Package(
    name: "AgoraLinkQuickstart",
    platforms: [.macOS(.v11)],
    dependencies: [
        .package(name: "agora-link", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "Quickstart",
            dependencies: [.product(name: "AgoraLink", package: "agora-link")],
            path: "Sources/Quickstart"
        ),
    ]
)
