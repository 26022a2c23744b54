#!/usr/bin/env python3
"""Strips the native library inside a wheel and checks the wheel (scripts/build-wheels).

Usage: strip-wheel.py LLVM_STRIP IN.whl OUT.whl

Rewrites the library with `llvm-strip --strip-all` and its RECORD line (sha256, size), then
checks what a user's pip and loader rely on: the WHEEL tags are manylinux_2_17/manylinux2014 for
the library's architecture, the package holds its Python modules, py.typed and one library, the
library is an ELF of that architecture with no .symtab left, and no versioned glibc symbol it
needs is above GLIBC_2.17. Prints one line of figures; exits non-zero on any failure.
"""
import base64
import hashlib
import pathlib
import subprocess
import sys
import tempfile
import zipfile

from elfcheck import check_library


def fail(message: str) -> None:
    sys.exit(f"strip-wheel: {message}")


def main() -> None:
    llvm_strip, source, target = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    with zipfile.ZipFile(source) as wheel:
        entries = {info.filename: wheel.read(info) for info in wheel.infolist()}
    libraries = [name for name in entries if name.endswith(".so")]
    if len(libraries) != 1:
        fail(f"expected one library in {source.name}, found {libraries}")
    library = libraries[0]
    before = len(entries[library])
    with tempfile.TemporaryDirectory() as scratch:
        path = pathlib.Path(scratch) / "lib.so"
        path.write_bytes(entries[library])
        subprocess.run([llvm_strip, "--strip-all", str(path)], check=True)
        stripped = path.read_bytes()
    entries[library] = stripped

    # Checks on the library: architecture, no symbol table, glibc baseline (elfcheck.py).
    try:
        arch, highest_glibc = check_library(stripped, library)
    except ValueError as error:
        fail(str(error))

    # Checks on the wheel: tags and files.
    dist_info = next(name.split("/")[0] for name in entries if name.endswith(".dist-info/WHEEL"))
    tags = [line.split(": ", 1)[1] for line in entries[f"{dist_info}/WHEEL"].decode().splitlines()
            if line.startswith("Tag: ")]
    expected = {f"py3-none-manylinux_2_17_{arch}", f"py3-none-manylinux2014_{arch}"}
    if set(tags) != expected:
        fail(f"tags {tags}, expected {sorted(expected)}")
    for required in ("agora_link/__init__.py", "agora_link/_native_glue.py", "agora_link/_errors.py",
                     "agora_link/_records.py", "agora_link/py.typed", "agora_link/_native/agora_link.py"):
        if required not in entries:
            fail(f"{source.name} lacks {required}")

    # RECORD: the library's new hash and size.
    digest = base64.urlsafe_b64encode(hashlib.sha256(stripped).digest()).rstrip(b"=").decode()
    record_name = f"{dist_info}/RECORD"
    lines = []
    for line in entries[record_name].decode().splitlines():
        if line.startswith(library + ","):
            line = f"{library},sha256={digest},{len(stripped)}"
        lines.append(line)
    entries[record_name] = ("\n".join(lines) + "\n").encode()

    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    print(f"{target.name}: library {before:,} -> {len(stripped):,} bytes stripped, wheel "
          f"{target.stat().st_size:,} bytes, {arch}, highest glibc symbol {highest_glibc}, "
          f"tags {' '.join(sorted(tags))}")


main()
