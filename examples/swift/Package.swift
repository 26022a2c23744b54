// swift-tools-version:5.9
// The Swift quickstart: a package of its own that depends on agora-link, as an app would.
// Here it takes the repository by path; an app on Linux can take it by URL:
//   .package(url: "https://github.com/agora-link/agora-link", branch: "main")
//
// On Linux, build the library first and pass the linker flags it prints (README, Swift):
//   flags=$(../../bindings/swift/build-linux-library.sh)
//   swift run $flags
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
