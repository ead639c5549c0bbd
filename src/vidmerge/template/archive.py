"""Zipped template bundles, extracted safely: nothing outside the bundle folder, no links or
device files, bounded size and file count, and nothing half-extracted left behind.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vidmerge.errors import BundleError
from vidmerge.template.manifest import MANIFEST


@dataclass(frozen=True)
class ArchiveLimits:
    max_bytes: int = 512 * 1024 * 1024
    max_files: int = 500


def extract_zip(archive: Path, dest: Path, limits: ArchiveLimits = ArchiveLimits()) -> Path:
    """Extract a zipped bundle into `dest`, refusing anything that could escape it.

    Rejected: absolute paths, `..`, links and device files, more than `max_files` entries, more
    than `max_bytes` uncompressed. Returns the bundle root (dest, or its single top folder).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise BundleError("not a zip archive", where=archive.name) from None
    created = not dest.exists()
    try:
        with zf:
            # not ZipInfo.is_dir(): it raises IndexError on an empty name
            members = [m for m in zf.infolist() if not m.filename.endswith("/")]
            _check_members(members, archive.name, limits)
            dest.mkdir(parents=True, exist_ok=True)
            for member in members:
                _extract_member(zf, member, dest, limits, archive.name)
        return _bundle_root(dest)
    except BaseException:
        if created:  # a half-extracted bundle is never left behind
            shutil.rmtree(dest, ignore_errors=True)
        raise


def _check_members(members: list[zipfile.ZipInfo], name: str, limits: ArchiveLimits) -> None:
    if len(members) > limits.max_files:
        raise BundleError(f"{len(members)} files; at most {limits.max_files} allowed", where=name)
    if sum(m.file_size for m in members) > limits.max_bytes:
        raise BundleError(f"uncompressed size exceeds {limits.max_bytes} bytes", where=name)
    for m in members:
        path = PurePosixPath(m.filename)
        if (
            not m.filename
            or m.filename.startswith(("/", "\\"))
            or ".." in path.parts
            or "\\" in m.filename
            or ":" in m.filename
        ):
            raise BundleError("unsafe path in archive", where=f"{name}: {m.filename}")
        mode = m.external_attr >> 16
        # no file-type bits at all (`ZipFile.writestr`, some Windows tools): a regular file
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise BundleError("links and special files are not allowed", where=f"{name}: {m.filename}")


def _extract_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, dest: Path, limits: ArchiveLimits, name: str) -> None:
    target = dest / member.filename
    if not target.resolve().is_relative_to(dest.resolve()):
        raise BundleError("unsafe path in archive", where=f"{name}: {member.filename}")
    written = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(member) as src, target.open("wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                written += len(block)
                if written > member.file_size or written > limits.max_bytes:
                    raise BundleError("entry larger than declared", where=f"{name}: {member.filename}")
                out.write(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError, ValueError) as exc:
        # a bad CRC, an unsupported or encrypted entry, a header whose name does not decode
        # (UnicodeDecodeError is a ValueError), a name the file system refuses
        reason = f"damaged or unsupported entry ({type(exc).__name__})"
        raise BundleError(reason, where=f"{name}: {member.filename}") from None


def _bundle_root(dest: Path) -> Path:
    if (dest / MANIFEST).is_file():
        return dest
    children = [p for p in dest.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    if len(children) == 1 and (children[0] / MANIFEST).is_file():
        return children[0]
    raise BundleError("no template.yaml at the top of the archive", where=MANIFEST)
