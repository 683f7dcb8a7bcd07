"""Make sure the ms-swift the plans target is installed (idempotent), optionally with its source beside.

The pins are rlwhf's own `swift` extra (ms-swift==4.6.0 plus msgspec, which 4.6.0 imports without
declaring it), read from the installed package metadata or, in a bare checkout, requirements.txt.
Already installed -> nothing is downloaded. The source distribution is unpacked for reading only
(`vendor/ms-swift-sub`); the installed package is what runs.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from rlwhf.config import repo_root
from rlwhf.errors import RlwhfError

_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*(;.*)?$")
_OFFLINE_HINTS = ("Could not find a version", "No matching distribution", "Failed to establish",
                  "Temporary failure in name resolution", "Network is unreachable", "ProxyError")


def swift_requirements() -> list[str]:
    """['ms-swift==X', 'msgspec>=Y']: the `swift` extra of rlwhf."""
    try:
        reqs = importlib.metadata.requires("rlwhf") or []
    except importlib.metadata.PackageNotFoundError:
        reqs = []
    found = [r.split(";")[0].strip() for r in reqs if re.search(r"extra\s*==\s*['\"]swift['\"]", r)]
    if found:
        return found
    root = repo_root()
    if root and (root / "requirements.txt").is_file():
        lines = (root / "requirements.txt").read_text(encoding="utf-8").splitlines()
        found = [ln.strip() for ln in lines if ln.strip().startswith(("ms-swift", "msgspec"))]
    if not any(r.startswith("ms-swift") for r in found):
        raise RlwhfError("cannot tell which ms-swift to install: rlwhf is not installed and requirements.txt "
                         "has no ms-swift pin (pip install -e '.[swift]')")
    return found


def satisfied(requirement: str) -> tuple[bool, str | None]:
    """(installed and matching, installed version or None)."""
    match = _REQ.match(requirement)
    name, spec = match.group(1), match.group(2)
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False, None
    if not spec:
        return True, version
    try:
        from packaging.specifiers import SpecifierSet

        return version in SpecifierSet(spec), version
    except ImportError:  # without packaging only exact pins can be compared
        pin = spec[2:] if spec.startswith("==") else None
        return (pin is None or pin == version), version


def _pip(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=timeout)


def _pip_failure(what: str, done: subprocess.CompletedProcess) -> RlwhfError:
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-3:])
    offline = any(h in (done.stderr + done.stdout) for h in _OFFLINE_HINTS)
    hint = ("the package registry is not reachable from here (offline?): run this again where it is, "
            "or install from a local wheel: pip install --no-index --find-links DIR 'rlwhf[swift]'"
            if offline else "see pip's message above")
    return RlwhfError(f"pip could not {what}: {tail}\n{hint}")


def unpack_sdist(archive: str | Path, dest: str | Path) -> Path:
    """Unpack a source tarball's single top folder into `dest` (replaced), refusing paths that escape it."""
    dest = Path(dest)
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive) as tar:
        for member in tar.getmembers():
            target = (Path(tmp) / member.name).resolve()
            if not str(target).startswith(str(Path(tmp).resolve())) or member.issym() or member.islnk():
                raise RlwhfError(f"{archive}: unsafe entry {member.name!r}")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp, filter="data")
        else:  # pragma: no cover - Python without extraction filters; entries were checked above
            tar.extractall(tmp)
        tops = [p for p in Path(tmp).iterdir()]
        source = tops[0] if len(tops) == 1 and tops[0].is_dir() else Path(tmp)
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, dest)
    return dest


def ensure_ms_swift(source_dir: str | Path | None = None, requirements: list[str] | None = None) -> dict:
    """Install what is missing of the pinned ms-swift set; unpack its sdist into `source_dir` if asked.

    Returns {"requirements", "installed_now", "ms_swift", "source_dir"}.
    """
    reqs = requirements or swift_requirements()
    missing = [r for r in reqs if not satisfied(r)[0]]
    if missing:
        done = _pip("install", *missing)
        if done.returncode != 0:
            raise _pip_failure(f"install {' '.join(missing)}", done)
    swift_req = next((r for r in reqs if r.startswith("ms-swift")), reqs[0])
    ok, version = satisfied(swift_req)
    if not ok:
        raise RlwhfError(f"{swift_req} is still not satisfied after installing (found {version})")
    result = {"requirements": reqs, "installed_now": missing, "ms_swift": version, "source_dir": None}
    if source_dir:
        dest = Path(source_dir)
        marker = dest / ".rlwhf_sdist"
        if marker.is_file() and marker.read_text().strip() == f"ms-swift=={version}":
            result["source_dir"] = str(dest)
            return result
        with tempfile.TemporaryDirectory() as tmp:
            done = _pip("download", "--no-deps", "--no-binary", "ms-swift", f"ms-swift=={version}", "-d", tmp)
            archives = sorted(Path(tmp).glob("*.tar.gz"))
            if done.returncode != 0 or not archives:
                raise _pip_failure(f"download the ms-swift {version} source distribution", done)
            unpack_sdist(archives[0], dest)
        marker.write_text(f"ms-swift=={version}\n")
        result["source_dir"] = str(dest)
    return result
