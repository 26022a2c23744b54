"""Checks of a binding's native library as it ships (wheel and JAR): an ELF shared library of
the expected architecture, stripped (no .symtab), and needing no versioned glibc symbol above
GLIBC_2.17 (the manylinux2014 baseline). Used by strip-wheel.py and check-packages.py."""
from __future__ import annotations

import re

ARCH = {62: "x86_64", 183: "aarch64", 40: "armv7l"}  # ELF e_machine
GLIBC_BASELINE = (2, 17)


def check_library(data: bytes, name: str, expected_arch: str | None = None) -> tuple[str, str]:
    """Returns (architecture, highest GLIBC_x.y needed); raises ValueError on any failure."""
    if data[:4] != b"\x7fELF":
        raise ValueError(f"{name} is not an ELF file")
    machine = int.from_bytes(data[18:20], "little")
    arch = ARCH.get(machine, f"e_machine {machine}")
    if expected_arch is not None and arch != expected_arch:
        raise ValueError(f"{name} is built for {arch}, expected {expected_arch}")
    if b".symtab" in data:
        raise ValueError(f"{name} still has a symbol table (not stripped)")
    glibc = sorted({tuple(int(p) for p in v.split(b"."))
                    for v in re.findall(rb"GLIBC_([0-9]+\.[0-9]+(?:\.[0-9]+)?)\x00", data)})
    if not glibc or glibc[-1] > GLIBC_BASELINE:
        raise ValueError(f"{name} needs glibc {'.'.join(map(str, glibc[-1])) if glibc else '?'} "
                         f"(baseline {'.'.join(map(str, GLIBC_BASELINE))})")
    return arch, "GLIBC_" + ".".join(map(str, glibc[-1]))
