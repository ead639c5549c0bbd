"""Image slots: an expression naming a picture under the bundle's `assets/` (a plan's icon, a
region's photo), fitted into the box."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, ClassVar, Literal

from PIL import Image
from pydantic import Field

from vidmerge.draw.slots.base import Bundle, Slot, register
from vidmerge.errors import BundleError, ExpressionError, InvalidInput, ProblemCollector
from vidmerge.plan import Drawn
from vidmerge.template.media import IMAGE_FORMATS

if TYPE_CHECKING:
    from vidmerge.resolver import Expression


@register
class ImageSlot(Slot):
    kind: Literal["image"]
    src: str = Field(min_length=1)  # expression giving a path inside the bundle's assets
    fit: Literal["contain", "cover"] = "contain"

    source_field: ClassVar[str] = "src"
    uses_font: ClassVar[bool] = False

    def check(self, root: Path, expression: Expression, problems: ProblemCollector) -> None:
        """A `src` that uses no input is known now: a bad one is refused at upload, not at render."""
        if not (root / "assets").is_dir():
            problems.add("assets/", "image slots need an assets/ folder")
            return
        if expression.names:
            return
        where = f"template.yaml: {self.where}.src"
        try:
            asset_path(root, expression.render({}).strip(), where)
        except InvalidInput as exc:
            problems.add(where, exc.message)

    def drawn(self, expression: Expression, context: Mapping[str, object], bundle: Bundle) -> Drawn:
        path = asset_path(bundle.root, expression.render(context), self.where)
        return Drawn(self.id, str(path.relative_to(bundle.root)), asset_digest=_file_digest(path))

    def picture(self, content: str, drawn: Drawn, bundle: Bundle) -> Image.Image:
        return _image_pixels(bundle.root / content, self.box.w, self.box.h, self.fit)


def asset_path(root: Path, relative: str, where: str) -> Path:
    """The file under `root/assets` that `relative` names; it may not leave assets/."""
    rel = PurePosixPath(relative.strip())
    if rel.is_absolute() or ".." in rel.parts or "\\" in relative or not rel.parts:
        raise ExpressionError(f"image path {relative!r} must stay inside assets/", where=where)
    if any(part.startswith(".") for part in rel.parts):  # .DS_Store and the like: never a picture
        raise BundleError(f"image {relative!r} is not in the bundle's assets", where=where)
    path = root / "assets" / rel
    if not path.is_file():
        raise BundleError(f"image {relative!r} is not in the bundle's assets", where=where)
    return path


@functools.cache
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@functools.lru_cache(maxsize=64)
def _image_pixels(path: Path, w: int, h: int, fit: str) -> Image.Image:
    with Image.open(path, formats=IMAGE_FORMATS) as im:
        im = im.convert("RGBA")
        scale = (min if fit == "contain" else max)(w / im.width, h / im.height)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS)
        canvas = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        canvas.paste(im, ((w - size[0]) // 2, (h - size[1]) // 2))
    return canvas
