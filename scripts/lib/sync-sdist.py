#!/usr/bin/env python3
"""Unpacks an sdist into a fixed directory, rewriting only the files whose content changed.

Usage: sync-sdist.py SDIST.tar.gz DIR      prints the unpacked source directory (DIR/<name>-<version>)

scripts/build-wheels builds the wheels from the unpacked sdist. Cargo decides what to rebuild
from the sources' modification times, and maturin writes every file of an sdist with one fixed
old time: unpacked as is, an edited source would look older than the last build and be skipped,
and unpacked with fresh times everything would be rebuilt every time. So an unchanged file keeps
the file (and time) of the previous run, a changed or new one is written now, and a file no
longer in the sdist is removed.
"""
import pathlib
import sys
import tarfile

source, destination = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wanted = set()
with tarfile.open(source) as archive:
    for member in archive.getmembers():
        if not member.isfile():
            continue
        path = destination / member.name
        if ".." in pathlib.PurePosixPath(member.name).parts or member.name.startswith("/"):
            sys.exit(f"sync-sdist: unsafe path {member.name}")
        data = archive.extractfile(member).read()
        wanted.add(path)
        if path.is_file() and path.read_bytes() == data:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if member.mode & 0o111 else 0o644)
    top = {m.name.split("/")[0] for m in archive.getmembers()}
if len(top) != 1:
    sys.exit(f"sync-sdist: expected one top directory in {source.name}, found {sorted(top)}")
root = destination / top.pop()
# Files of an earlier sdist that this one no longer has (Cargo.lock is cargo's, kept).
for path in sorted(root.rglob("*"), reverse=True):
    if path.is_file() and path not in wanted and path.name != "Cargo.lock":
        path.unlink()
    elif path.is_dir() and not any(path.iterdir()):
        path.rmdir()
print(root)
