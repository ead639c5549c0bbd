"""Template bundles: a folder (or the same folder zipped) with `template.yaml`, the base clip
and assets. `load_bundle` validates everything once and returns an immutable Template.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vidmerge.draw.slots import Slot
from vidmerge.draw.slots.image import asset_path
from vidmerge.errors import BundleError, InvalidInput, ProblemCollector
from vidmerge.resolver import Expression, Spec, compile_expression, load_spec
from vidmerge.template import captions, files, fonts
from vidmerge.template.manifest import MANIFEST, Manifest, parse_manifest
from vidmerge.template.media import MediaInfo, probe_video
from vidmerge.template.variants import base_form
from vidmerge.yamlfile import read_yaml


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
    captions: tuple[captions.Cue, ...] | None = None  # the bundle's captions.vtt, if it has one

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
    for tool, mapping in manifest.mappings.items():
        targets = {*spec.field_names, *(("external_id",) if tool == "csv" else ())}  # a CSV's key column
        for field, target in mapping.items():
            if target not in targets:
                problems.add(f"{MANIFEST}: mappings.{tool}.{field}", f"{target!r} is not one of the inputs")
    expressions = _compile(manifest, spec, problems)
    font_paths = _fonts(manifest, root, problems)
    _check_fixed_text(expressions, font_paths, problems)
    _check_files(root, manifest, problems)
    cues = _captions(root, media, problems)
    _check_logo(manifest, root, problems)
    _check_slots_files(manifest, expressions, root, problems)
    problems.raise_if_any(BundleError)
    template = Template(manifest, root, base, media, spec, expressions, font_paths, _digest(root, manifest), cues)
    _check_choices(template, problems)
    problems.raise_if_any(BundleError)
    return template


def _read_yaml(path: Path) -> object:
    if not path.is_file():
        raise BundleError("missing: every bundle needs a manifest", where=path.name)
    return read_yaml(path, where=path.name)


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


def _compile(manifest: Manifest, spec: Spec, problems: ProblemCollector) -> dict[str, Expression]:
    known = set(spec.field_names) | set(manifest.computed)
    compiled: dict[str, Expression] = {}
    for slot in manifest.slots:
        where = f"{MANIFEST}: {slot.where}.{slot.source_field}"
        try:
            expr = compile_expression(slot.source, where=where)
        except InvalidInput as exc:
            problems.add(where, exc.message)
            continue
        unknown = sorted(expr.names - known)
        if unknown:
            problems.add(where, f"uses undeclared input(s) {', '.join(unknown)}")
        compiled[slot.id] = expr
    return compiled


def _fonts(manifest: Manifest, root: Path, problems: ProblemCollector) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for slot in manifest.slots:
        if not slot.uses_font:
            continue
        try:
            found[slot.id] = _font(slot.style.font, root)  # only a font that loads: the fixed-text check reads it
        except InvalidInput as exc:
            problems.add(f"{MANIFEST}: slots[{slot.id}].style.font", exc.message)
    return found


def _font(name: str, root: Path) -> Path:
    """A slot's font file, checked by content (fonts.load); a refusal names it as the manifest does."""
    path = fonts.font_path(name, bundle_dir=root)
    try:
        fonts.load(path)
    except InvalidInput as exc:
        raise BundleError(f"{name}: {exc.message}") from None
    return path


def _check_fixed_text(
    expressions: dict[str, Expression], font_paths: dict[str, Path], problems: ProblemCollector
) -> None:
    """Text a slot writes for every customer (「様、こんにちは」, a by_value wording) is checked
    against its font now: a missing glyph would otherwise fail every render, not the upload."""
    for slot_id, font in font_paths.items():
        expression = expressions.get(slot_id)  # absent when it did not compile (reported already)
        missing = fonts.missing_glyphs(base_form(expression.literals), font) if expression is not None else []
        if expression is not None and missing:
            listed = ", ".join(fonts.describe(ch) for ch in missing)
            problems.add(expression.where, f"fixed text has no glyph in font {font.name} for {listed}")


def _check_files(root: Path, manifest: Manifest, problems: ProblemCollector) -> None:
    """Every file the template uses is what its name says, by content (template/files.py):
    assets/ holds images and fonts only, a font is a font, a tariff table is UTF-8 text. A slot's
    font is reported at the slot (`_fonts`), not twice."""
    slot_fonts = {(root / slot.style.font).resolve() for slot in manifest.slots if slot.uses_font}
    for path in _used_files(root, manifest):
        relative = path.relative_to(root)
        if path.resolve() in slot_fonts or relative.as_posix() == captions.CAPTIONS:  # checked by _captions
            continue
        try:
            files.check(path, asset=relative.parts[0] == "assets")
        except InvalidInput as exc:
            problems.add(relative.as_posix(), exc.message)


def _captions(root: Path, media: MediaInfo, problems: ProblemCollector) -> tuple[captions.Cue, ...] | None:
    """The cues of the bundle's captions.vtt (template/captions.py), None without one."""
    path = root / captions.CAPTIONS
    if not path.is_file():
        return None
    try:
        return captions.load(path, media.duration)
    except InvalidInput as exc:
        problems.add(exc.where, exc.message)
        return None


def _check_logo(manifest: Manifest, root: Path, problems: ProblemCollector) -> None:
    """The page's logo is one of the images under assets/ (checked there like any other)."""
    logo = manifest.page.logo_asset
    if logo is not None:
        try:
            asset_path(root, logo, where="")
        except InvalidInput:
            problems.add(f"{MANIFEST}: page.logo", f"{manifest.page.logo!r} must be an image under assets/")


def _check_choices(template: Template, problems: ProblemCollector) -> None:
    """Every slot evaluated for customers whose enumerable inputs take every value (the others at
    their defaults): an image a plan's icon names that is not in assets/, or a wording whose glyph
    the font lacks, fails the upload, not that plan's customers. Not tried when resolving would
    reach outside the bundle (an http_lookup)."""
    if not template.spec.offline:
        return
    for data in template.spec.choices():
        try:
            context = template.spec.resolve(data).context
        except InvalidInput:
            continue  # a combination the inputs refuse (or that needs data): nobody gets it
        for slot in template.slots:
            try:
                slot.drawn(template.expressions[slot.id], context, template)
            except InvalidInput as exc:
                chosen = ", ".join(f"{k}={v}" for k, v in data.items())
                problems.add(f"{MANIFEST}: {slot.where}", f"for {chosen}: {exc.message}")
                return  # one combination tells the marketer what is missing


def _check_slots_files(
    manifest: Manifest, expressions: Mapping[str, Expression], root: Path, problems: ProblemCollector
) -> None:
    """Each kind's own upload-time checks against the bundle's files (image slots: assets/)."""
    for slot in manifest.slots:
        if slot.id in expressions:
            slot.check(root, expressions[slot.id], problems)


def _clutter(relative: Path) -> bool:
    """What tools add to a folder unasked (.DS_Store, ._x, __MACOSX/): never part of a template."""
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)


def _digest(root: Path, manifest: Manifest) -> str:
    """The content hash of what the template uses: its manifest, the base clip, assets/ and any
    file the manifest names (a tariff table). A sample CSV or a README beside them, or a
    .DS_Store, changes nothing: uploading the folder again is the same version."""
    h = hashlib.sha256(_described(manifest).encode())
    for path in _used_files(root, manifest):
        h.update(str(path.relative_to(root)).encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:32]


def _described(manifest: Manifest) -> str:
    return json.dumps(manifest.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


def _used_files(root: Path, manifest: Manifest) -> list[Path]:
    """The files the template uses besides its manifest: assets/, the base clip and any file the
    manifest names (a tariff table, a font), and captions.vtt; clutter aside."""
    described, base = _described(manifest), (root / manifest.base).resolve()
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST):
        relative = path.relative_to(root)
        used = relative.parts[0] == "assets" or path.resolve() == base or relative.as_posix() in described
        used = used or relative.as_posix() == captions.CAPTIONS
        if used and not _clutter(relative):
            found.append(path)
    return found
