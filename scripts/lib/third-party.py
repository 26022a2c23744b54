#!/usr/bin/env python3
"""Writes the licence texts of every crate linked into the C library for one target.

    python3 scripts/lib/third-party.py TARGET OUT_FILE [cargo feature arguments...]

Walks `cargo metadata` from the `agora-link` package along normal (linked) dependencies for
TARGET with the given features, and copies each crate's LICENSE*/LICENCE*/COPYING*/NOTICE*
files (the MIT/BSD/ISC notices a redistribution must carry, ring's OpenSSL-derived notices
among them) into OUT_FILE. Standard-library crates are covered by Rust's own licence (MIT OR
Apache-2.0), named at the top.
"""

import json
import pathlib
import subprocess
import sys


def main() -> int:
    target, out, features = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
    metadata = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", target,
         *features], check=True, capture_output=True, text=True).stdout)
    packages = {p["id"]: p for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    root = next(p["id"] for p in metadata["packages"]
                if p["name"] == "agora-link" and p["source"] is None)
    seen, stack = set(), [root]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        for dep in nodes[current]["deps"]:
            if any(kind["kind"] is None for kind in dep["dep_kinds"]):
                stack.append(dep["pkg"])
    seen.discard(root)
    parts = ["Third-party software in this build of agora-link (licence texts follow).",
             "The Rust standard library: MIT OR Apache-2.0 (https://github.com/rust-lang/rust).",
             ""]
    missing = []
    for pid in sorted(seen, key=lambda i: (packages[i]["name"], packages[i]["version"])):
        package = packages[pid]
        folder = pathlib.Path(package["manifest_path"]).parent
        files = sorted(f for f in folder.iterdir() if f.is_file() and f.name.upper().startswith(
            ("LICENSE", "LICENCE", "COPYING", "NOTICE", "UNLICENSE")))
        parts.append("=" * 78)
        parts.append(f"{package['name']} {package['version']} ({package.get('license') or 'see below'})")
        parts.append("=" * 78)
        if not files:
            missing.append(package["name"])
            parts.append(f"(no licence file in the crate; its manifest declares {package.get('license')})")
        for f in files:
            parts.append(f"--- {f.name}")
            parts.append(f.read_text(errors="replace").rstrip())
        parts.append("")
    out.write_text("\n".join(parts) + "\n")
    print(f"{len(seen)} crates, {len(missing)} without a licence file"
          + (f" ({', '.join(missing)})" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
