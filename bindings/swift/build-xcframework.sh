#!/usr/bin/env bash
# Builds AgoraLinkFFI.xcframework (macOS only: needs Xcode): the Rust library (feature uniffi,
# profile release-small) for iOS devices, the iOS simulator and macOS, with the generated
# header and module map of Sources/agora_linkFFI, into bindings/swift/AgoraLinkFFI.xcframework:
# the path the Package.swift at the repository root links on Apple platforms.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
[ "$(uname)" = Darwin ] || { echo "build-xcframework.sh runs on macOS (xcodebuild)" >&2; exit 1; }
targets="aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin"
for target in $targets; do
  rustup target add "$target" >/dev/null
  cargo build --manifest-path "$root/Cargo.toml" -p agora-link --lib --features uniffi,wipe-on-free --profile release-small --target "$target"
done
lib() { echo "$root/target/$1/release-small/libagora_link.a"; }
work=$(mktemp -d)
mkdir -p "$work/sim" "$work/mac"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/sim/libagora_link.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$work/mac/libagora_link.a"
rm -rf AgoraLinkFFI.xcframework
xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers Sources/agora_linkFFI \
  -library "$work/sim/libagora_link.a" -headers Sources/agora_linkFFI \
  -library "$work/mac/libagora_link.a" -headers Sources/agora_linkFFI \
  -output AgoraLinkFFI.xcframework
rm -rf "$work"
echo "built $(pwd)/AgoraLinkFFI.xcframework"
