#!/usr/bin/env bash
# Builds libagora_link.so for Android ABIs into an AAR's (or app module's) jniLibs layout:
#
#   bindings/kotlin/android/build-jni-libs.sh OUT_DIR [ABI...]
#     ABIs: arm64-v8a armeabi-v7a x86_64 x86 (default: arm64-v8a armeabi-v7a x86_64)
#     → OUT_DIR/jniLibs/<abi>/libagora_link.so (release, feature uniffi, stripped)
#
# Needs the Android NDK (ANDROID_NDK_HOME, r26 or newer) and cargo-ndk (`cargo install
# cargo-ndk`); installs the Rust targets with rustup. Minimum API level: $ANDROID_API (default 24).
# This project's machines have no NDK: this script is documented and checked for its
# prerequisites only (docs/kotlin.md says so); it has not produced a library here.
set -euo pipefail
cd "$(dirname "$0")/../../.."
[ $# -ge 1 ] || { echo "usage: $0 OUT_DIR [ABI...]" >&2; exit 2; }
out=$1; shift
abis=("$@")
[ ${#abis[@]} -eq 0 ] && abis=(arm64-v8a armeabi-v7a x86_64)
api=${ANDROID_API:-24}
if [ -z "${ANDROID_NDK_HOME:-}" ] || [ ! -d "${ANDROID_NDK_HOME:-/nonexistent}" ]; then
  echo "$0: the Android NDK is required: set ANDROID_NDK_HOME to it (none on this machine)" >&2
  exit 3
fi
command -v cargo-ndk > /dev/null || { echo "$0: cargo-ndk is required: cargo install cargo-ndk" >&2; exit 3; }
declare -A rust_target=([arm64-v8a]=aarch64-linux-android [armeabi-v7a]=armv7-linux-androideabi
  [x86_64]=x86_64-linux-android [x86]=i686-linux-android)
args=()
for abi in "${abis[@]}"; do
  [ -n "${rust_target[$abi]:-}" ] || { echo "$0: unknown ABI $abi" >&2; exit 2; }
  rustup target add "${rust_target[$abi]}" >&2
  args+=(-t "$abi")
done
cargo ndk "${args[@]}" --platform "$api" -o "$out/jniLibs" \
  build --locked --release -p agora-link --lib --features uniffi,wipe-on-free
find "$out/jniLibs" -name libagora_link.so -exec ls -l {} +
