"""Template bundles: a folder (or the same folder zipped) with `template.yaml`, the base clip
and assets. `load_bundle` validates everything once and returns an immutable Template.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from . import fonts
from .errors import BundleError, InvalidInput, ProblemCollector
from .manifest import ImageSlot, Manifest, NumberSlot, Slot, TextSlot, parse_manifest
from .media import MediaInfo, probe_image, probe_video
from .resolver import Expression, Spec, compile_expression, load_spec

MANIFEST = "template.yaml"


@dataclass(frozen=True)
class Template:
    manifest: Manifest
    root: Path
    base: Path
    media: MediaInfo
    spec: Spec
    expressions: Mapping[str, Expression]  # slot id -> its expression (text, value or src)
    fonts: Mapping[str, Path]  # slot id -> font file
    digest: str  # content hash of manifest, base clip and assets

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def version(self) -> int:
        return self.manifest.version

    @property
    def slots(self) -> tuple[Slot, ...]:
        return self.manifest.slots


def load_bundle(root: Path) -> Template:
    """Load and validate a bundle folder. Every problem names its file, field or slot."""
    manifest = parse_manifest(_read_yaml(root / MANIFEST), where=MANIFEST)
    base = _inside(root, manifest.base, where=f"{MANIFEST}: base")
    if not base.is_file():
        raise BundleError(f"base clip {manifest.base!r} is missing", where=f"{MANIFEST}: base")
    media = probe_video(base)
    spec = load_spec(manifest.inputs, manifest.computed, base_dir=root, where=MANIFEST)
    problems = ProblemCollector()
    _check_slots(manifest, media, problems)
    expressions = _compile(manifest, spec, problems)
    font_paths = _fonts(manifest, root, problems)
    _check_images(manifest, root, problems)
    _check_constant_sources(manifest, expressions, root, problems)
    problems.raise_if_any(BundleError)
    return Template(manifest, root, base, media, spec, expressions, font_paths, _digest(root, manifest))


def _read_yaml(path: Path) -> object:
    if not path.is_file():
        raise BundleError("missing: every bundle needs a manifest", where=path.name)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BundleError(f"not valid YAML ({exc})", where=path.name) from None


def _inside(root: Path, relative: str, *, where: str) -> Path:
    rel = PurePosixPath(relative)
    if rel.is_absolute() or ".." in rel.parts or "\\" in relative:
        raise BundleError(f"{relative!r} must be a relative path inside the bundle", where=where)
    return root / rel


def _check_slots(manifest: Manifest, media: MediaInfo, problems: ProblemCollector) -> None:
    seen: set[str] = set()
    for slot in manifest.slots:
        where = f"{MANIFEST}: slots[{slot.id}]"
        if slot.id in seen:
            problems.add(where, "duplicate slot id")
        seen.add(slot.id)
        if slot.end > media.duration + 1e-6:
            problems.add(f"{where}.end", f"{slot.end} s is beyond the base clip ({media.duration:.3f} s)")
        b = slot.box
        if b.x + b.w > media.width or b.y + b.h > media.height:
            problems.add(f"{where}.box", f"extends outside the {media.width}x{media.height} frame")
        if slot.style.fade_in + slot.style.fade_out > slot.end - slot.start + 1e-9:
            problems.add(f"{where}.style", "fade_in + fade_out is longer than the window")


def _source(slot: Slot) -> str:
    if isinstance(slot, TextSlot):
        return slot.text
    if isinstance(slot, NumberSlot):
        return slot.value
    return slot.src


def _compile(manifest: Manifest, spec: Spec, problems: ProblemCollector) -> dict[str, Expression]:
    known = set(spec.field_names) | set(manifest.computed)
    compiled: dict[str, Expression] = {}
    for slot in manifest.slots:
        where = f"{MANIFEST}: slots[{slot.id}].{_field(slot)}"
        try:
            expr = compile_expression(_source(slot), where=where)
        except InvalidInput as exc:
            problems.add(where, exc.message)
            continue
        unknown = sorted(expr.names - known)
        if unknown:
            problems.add(where, f"uses undeclared input(s) {', '.join(unknown)}")
        compiled[slot.id] = expr
    return compiled


def _field(slot: Slot) -> str:
    return {"text": "text", "number": "value", "image": "src"}[slot.kind]


def _fonts(manifest: Manifest, root: Path, problems: ProblemCollector) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for slot in manifest.slots:
        if isinstance(slot, ImageSlot):
            continue
        try:
            found[slot.id] = fonts.font_path(slot.style.font, bundle_dir=root)
            fonts.load(found[slot.id])
        except InvalidInput as exc:
            problems.add(f"{MANIFEST}: slots[{slot.id}].style.font", exc.message)
    return found


def _check_images(manifest: Manifest, root: Path, problems: ProblemCollector) -> None:
    """assets/ holds images and fonts only, and every image passes the allow-list and limits.

    An image slot's `src` is an expression that may name any file under assets/, so every
    file there (whatever its suffix) is checked, not only those named `.png`.
    """
    assets = root / "assets"
    if not assets.is_dir():
        if any(isinstance(s, ImageSlot) for s in manifest.slots):
            problems.add("assets/", "image slots need an assets/ folder")
        return
    for path in sorted(assets.rglob("*")):
        if path.is_file() and path.suffix.lower() not in fonts.FONT_SUFFIXES:
            try:
                probe_image(path)
            except InvalidInput as exc:
                problems.add(str(path.relative_to(root)), exc.message)


def _check_constant_sources(
    manifest: Manifest, expressions: Mapping[str, Expression], root: Path, problems: ProblemCollector
) -> None:
    """An image `src` that uses no input is known now: refuse a bad one at upload, not at render."""
    for slot in manifest.slots:
        expr = expressions.get(slot.id)
        if not isinstance(slot, ImageSlot) or expr is None or expr.names:
            continue
        where = f"{MANIFEST}: slots[{slot.id}].src"
        try:
            relative = expr.render({}).strip()
            path = _inside(root / "assets", relative, where=where)
        except InvalidInput as exc:
            problems.add(where, exc.message)
            continue
        if (root / "assets").is_dir() and not path.is_file():  # no assets/ at all is reported once
            problems.add(where, f"image {relative!r} is not in the bundle's assets")


def _digest(root: Path, manifest: Manifest) -> str:
    h = hashlib.sha256(json.dumps(manifest.model_dump(mode="json"), sort_keys=True).encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST):
        h.update(str(path.relative_to(root)).encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:32]


# --- zipped bundles -----------------------------------------------------------------------


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
