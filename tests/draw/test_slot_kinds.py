"""Slot kinds are a family: a kind defined here, in a test module, registers and renders without
editing any other module (the seam the next kinds, a QR code or an audio clip, will use)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
import pytest
from PIL import Image
from support.media import frames_at, make_clip, write_bundle

from vidmerge.config import Settings
from vidmerge.draw.slots import KINDS, ImageSlot, NumberSlot, Slot, TextSlot, register
from vidmerge.draw.slots.base import Bundle
from vidmerge.engine.runner import render_to_folder
from vidmerge.errors import BundleError, ExpressionError
from vidmerge.plan import Drawn
from vidmerge.template.manifest import parse_manifest

if TYPE_CHECKING:
    from vidmerge.resolver import Expression


@register
class ColourBox(Slot):
    """A box filled with a colour the customer's data chooses (`{{ favourite }}`)."""

    kind: Literal["colour_box"]
    colour: str  # expression giving a #rrggbb colour

    source_field: ClassVar[str] = "colour"
    uses_font: ClassVar[bool] = False

    def drawn(self, expression: Expression, context: Mapping[str, object], bundle: Bundle) -> Drawn:
        colour = expression.render(context).strip()
        if len(colour) != 7 or not colour.startswith("#"):
            raise ExpressionError(f"{colour!r} is not a #rrggbb colour", where=self.where)
        return Drawn(self.id, colour)

    def picture(self, content: str, drawn: Drawn, bundle: Bundle) -> Image.Image:
        return Image.new("RGBA", (self.box.w, self.box.h), content)


MANIFEST = {
    "id": "boxes",
    "output": {"preset": "ultrafast", "crf": 18, "segment_seconds": 2, "gif": {"duration": 1.0, "fps": 2}},
    "inputs": {"favourite": {"type": "string", "default": "#ff0000"}},
    "slots": [
        {"id": "swatch", "kind": "colour_box", "start": 2.0, "end": 4.0, "colour": "{{ favourite }}",
         "box": {"x": 100, "y": 60, "w": 80, "h": 60}},
    ],
}  # fmt: skip


def test_the_built_in_kinds_are_registered_with_their_names() -> None:
    assert KINDS["text"] is TextSlot and KINDS["number"] is NumberSlot and KINDS["image"] is ImageSlot
    assert KINDS["colour_box"] is ColourBox


def test_a_registered_kind_is_parsed_and_checked_like_the_built_in_ones() -> None:
    manifest = parse_manifest(MANIFEST)
    assert isinstance(manifest.slots[0], ColourBox)
    assert manifest.model_dump(mode="json")["slots"][0]["colour"] == "{{ favourite }}"
    bad = {**MANIFEST, "slots": [{**MANIFEST["slots"][0], "colour": 7}]}  # type: ignore[dict-item]
    with pytest.raises(BundleError) as info:
        parse_manifest(bad)
    assert info.value.problems[0].where == "template.yaml: slots[swatch].colour"


def test_an_unknown_kind_names_the_kinds_there_are() -> None:
    with pytest.raises(BundleError) as info:
        parse_manifest({**MANIFEST, "slots": [{**MANIFEST["slots"][0], "kind": "hologram"}]})
    problem = info.value.problems[0]
    assert problem.where == "template.yaml: slots[swatch].kind"
    assert "colour_box" in problem.reason and "text" in problem.reason


@pytest.mark.slow
def test_a_kind_defined_in_a_test_module_renders(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", MANIFEST, clip=make_clip(tmp_path / "clip.mp4", seconds=4))
    settings = Settings(data_dir=tmp_path / "data")
    summary = render_to_folder(bundle, {"favourite": "#00ff00"}, tmp_path / "out", settings, tmp_path / "scratch")
    assert summary["values"] == {"swatch": "#00ff00"}
    assert summary["segments"] == {"total": 2, "dynamic": 1, "rendered": 1}
    frames = frames_at(tmp_path / "out" / "video.mp4", [1.0, 3.0])
    inside = frames[3.0][70:110, 110:170].reshape(-1, 3).mean(axis=0)
    assert inside[1] > 200 and inside[0] < 60 and inside[2] < 60  # green, drawn by the kind
    before = frames[1.0][70:110, 110:170].reshape(-1, 3).mean(axis=0)
    assert not np.allclose(before, inside, atol=40)  # not there before its window
    with pytest.raises(ExpressionError):
        render_to_folder(bundle, {"favourite": "green"}, tmp_path / "out2", settings, tmp_path / "scratch2")
