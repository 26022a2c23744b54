#!/usr/bin/env bash
# Builds the library the Swift package links on Linux (feature uniffi, release profile) and lays
# it out as an installed shared library in DIR (default: target/swift/lib, git-ignored):
#
#   libagora_link.so.<version>, libagora_link.so.0 -> (its SONAME), libagora_link.so -> .so.0
#
# then prints the flags that make `swift build`, `swift test` and `swift run` find it:
#
#   bindings/swift/build-linux-library.sh [DIR]
#   swift build -Xlinker -L<DIR> -Xlinker -rpath -Xlinker <DIR>
#
# (Copying the three files into /usr/local/lib, then `ldconfig`, makes the flags unnecessary.)
# With AGORA_LINK_LIBRARY set to an already built library of the same sources and features
# (scripts/test-all passes the wheels' x86_64 build, glibc 2.17 baseline), that file is laid out
# instead of building one.
# The Apple counterpart is build-xcframework.sh.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/../.."
dir=${1:-target/swift/lib}
case "$dir" in /*) ;; *) dir=$caller/$dir; [ -n "${1:-}" ] || dir=$PWD/target/swift/lib ;; esac
version=$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)
library=${AGORA_LINK_LIBRARY:-}
if [ -z "$library" ]; then
  echo "building the library (cargo, release, features uniffi,wipe-on-free; a few minutes the first time)" >&2
  cargo build --locked --quiet --release -p agora-link --lib --features uniffi,wipe-on-free
  library=target/release/libagora_link.so
fi
[ -f "$library" ] || { echo "no library at $library" >&2; exit 1; }
mkdir -p "$dir"
cp "$library" "$dir/libagora_link.so.$version.tmp"
mv "$dir/libagora_link.so.$version.tmp" "$dir/libagora_link.so.$version"
ln -sfn "libagora_link.so.$version" "$dir/libagora_link.so.0"
ln -sfn libagora_link.so.0 "$dir/libagora_link.so"
echo "-Xlinker -L$dir -Xlinker -rpath -Xlinker $dir"
