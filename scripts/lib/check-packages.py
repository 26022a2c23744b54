#!/usr/bin/env python3
"""Checks of the binding packages as they would be published (PyPI, Maven Central).

    check-packages.py sdist agora_link-<v>.tar.gz   the files a wheel build needs, and nothing of
                                                    the excluded trees (scripts, CI, other bindings)
    check-packages.py wheel agora_link-<v>-*.whl    License-Expression, the license text in
                                                    .dist-info/licenses/, Project-URLs, classifiers
                                                    (Python versions, Linux), a Markdown long
                                                    description without relative links
    check-packages.py jar agora-link-<v>.jar        linux-x86-64/ and linux-aarch64/libagora_link.so,
                                                    each of its architecture, stripped, glibc <= 2.17
                                                    (elfcheck.py); META-INF/LICENSE; the R8 rules
    check-packages.py pom pom.xml                   what Maven Central requires: description, url,
                                                    licenses, developers, scm (and name, groupId, ...)

Prints one line per package (with sizes for the report); exits non-zero on the first failure.
"""
from __future__ import annotations

import email.parser
import re
import sys
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from elfcheck import check_library

REPO = "https://github.com/agora-link/agora-link"


def fail(message: str) -> None:
    sys.exit(f"check-packages: {message}")


def sdist(path: Path) -> None:
    with tarfile.open(path) as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if m.isfile() and "/" in m.name}
    required = ["pyproject.toml", "PKG-INFO", "LICENSE", "Cargo.toml", "Cargo.lock", "build.rs",
                "src/lib.rs", "src/uniffi_api/mod.rs", "docs/python.md",
                "python/agora_link/__init__.py", "python/agora_link/py.typed",
                "sandbox/Cargo.toml", "server-guard/Cargo.toml"]
    for name in required:
        if name not in members:
            fail(f"{path.name} lacks {name}")
    forbidden = re.compile(r"^(\.ci/|scripts/|bindings/|include/|tests/|cmake/|fuzz/|examples/(c|cpp|kotlin|python|swift)/|"
                           r"cli/|provisioning/|target/|\.venv/|Package\.swift$|uniffi\.toml$|\.git)")
    unwanted = sorted(name for name in members if forbidden.match(name))
    if unwanted:
        fail(f"{path.name} holds files a wheel build does not need: {', '.join(unwanted[:8])}")
    largest = max(members.values(), key=lambda m: m.size)
    if largest.size > 200_000:
        fail(f"{path.name}: {largest.name} is {largest.size:,} bytes")
    print(f"{path.name}: {path.stat().st_size:,} bytes, {len(members)} files "
          f"({', '.join(sorted({n.split('/')[0] for n in members}))}), largest {largest.name.split('/', 1)[1]} "
          f"{largest.size:,} bytes")


def wheel(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
        license_text = archive.read(f"{dist_info}/licenses/LICENSE").decode() \
            if f"{dist_info}/licenses/LICENSE" in names else None
    if license_text is None or "Apache License" not in license_text:
        fail(f"{path.name} lacks the license text ({dist_info}/licenses/LICENSE)")
    if metadata["License-Expression"] != "Apache-2.0" or metadata["License-File"] != "LICENSE":
        fail(f"{path.name}: License-Expression {metadata['License-Expression']!r}, License-File {metadata['License-File']!r}")
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    for label in ("Homepage", "Documentation", "Repository", "Changelog"):
        if not urls.get(label, "").startswith(REPO):
            fail(f"{path.name}: Project-URL {label} is {urls.get(label)!r}")
    classifiers = set(metadata.get_all("Classifier") or [])
    wanted = {f"Programming Language :: Python :: 3.{minor}" for minor in range(9, 14)}
    wanted |= {"Operating System :: POSIX :: Linux", "Typing :: Typed"}
    if wanted - classifiers:
        fail(f"{path.name} lacks the classifiers {sorted(wanted - classifiers)}")
    if any(c.startswith("Operating System :: MacOS") or c.startswith("Operating System :: Microsoft")
           for c in classifiers):
        fail(f"{path.name} claims an operating system it has no wheel for")
    try:
        import trove_classifiers
    except ImportError:
        trove_classifiers = None
    if trove_classifiers is not None:
        unknown = classifiers - set(trove_classifiers.classifiers)
        if unknown:
            fail(f"{path.name}: unknown classifiers {sorted(unknown)}")
    description = metadata.get_payload()
    if metadata["Description-Content-Type"] != "text/markdown" or "# Python" not in description:
        fail(f"{path.name}: the long description is not the Python guide (Markdown)")
    relative = [t for t in re.findall(r"\]\(([^)\s]+)", description)
                if not re.match(r"(https?:|mailto:|#)", t)]
    if relative:
        fail(f"{path.name}: relative links in the long description, broken on PyPI: {relative}")
    print(f"{path.name}: License-Expression Apache-2.0, license text, {len(urls)} Project-URLs, "
          f"{len(classifiers)} classifiers, description {len(description):,} chars")


def jar(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        figures = []
        for folder, arch in (("linux-x86-64", "x86_64"), ("linux-aarch64", "aarch64")):
            name = f"{folder}/libagora_link.so"
            if name not in names:
                fail(f"{path.name} lacks {name}")
            try:
                _, glibc = check_library(archive.read(name), f"{path.name}!{name}", arch)
            except ValueError as error:
                fail(str(error))
            figures.append(f"{name} {archive.getinfo(name).file_size:,} bytes ({arch}, stripped, {glibc})")
        if "META-INF/LICENSE" not in names or "Apache License" not in archive.read("META-INF/LICENSE").decode():
            fail(f"{path.name} lacks META-INF/LICENSE")
        if "META-INF/proguard/agora-link.pro" not in names:
            fail(f"{path.name} lacks META-INF/proguard/agora-link.pro")
    print(f"{path.name}: {path.stat().st_size:,} bytes; {'; '.join(figures)}; META-INF/LICENSE")


def pom(path: Path) -> None:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(path).getroot()

    def text(xpath: str) -> str:
        element = root.find(xpath, ns)
        return "" if element is None or element.text is None else element.text.strip()

    required = {
        "name": "m:name", "description": "m:description", "url": "m:url",
        "licenses/license/name": "m:licenses/m:license/m:name", "licenses/license/url": "m:licenses/m:license/m:url",
        "developers/developer/name": "m:developers/m:developer/m:name",
        "scm/url": "m:scm/m:url", "scm/connection": "m:scm/m:connection",
        "scm/developerConnection": "m:scm/m:developerConnection",
    }
    missing = [label for label, xpath in required.items() if not text(xpath)]
    if missing:
        fail(f"{path}: Maven Central requires {', '.join(missing)}")
    if not text("m:scm/m:url").startswith(REPO) or not text("m:url").startswith(REPO):
        fail(f"{path}: url/scm do not point to {REPO}")
    if "Apache" not in text("m:licenses/m:license/m:name"):
        fail(f"{path}: license {text('m:licenses/m:license/m:name')!r}")
    profiles = [p for p in root.findall("m:profiles/m:profile", ns) if p.findtext("m:id", "", ns) == "release"]
    if not profiles:
        fail(f"{path}: no `release` profile (signing and publishing)")
    active = profiles[0].find("m:activation/m:activeByDefault", ns)
    if active is not None and active.text.strip() == "true":
        fail(f"{path}: the release profile must be off by default")
    print(f"{path}: description, url, licenses, developers, scm present; release profile off by default")


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[1] not in ("sdist", "wheel", "jar", "pom"):
        sys.exit(__doc__)
    for file in sys.argv[2:]:
        globals()[sys.argv[1]](Path(file))


main()
