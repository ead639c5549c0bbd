"""The slot protocol: what every slot kind has and does.

A kind is a pydantic model of its manifest entry (the fields every slot has, plus its own) with
three methods: `drawn` computes its value as drawn from the customer's resolved data, `content`
says what it shows at a moment (a count-up number changes, most kinds do not) and `picture`
draws that content into an RGBA image of the slot's box. `check` adds upload-time checks on the
bundle's files. A kind registers itself with `register`; the manifest parser, the bundle loader,
the layers and the bench then know it without naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vidmerge.errors import ProblemCollector
from vidmerge.plan import Drawn

if TYPE_CHECKING:
    from PIL import Image

    from vidmerge.resolver import Expression

Colour = Annotated[str, Field(pattern=r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Box(Model):
    """Where a slot is drawn, in pixels of the output frame."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    w: int = Field(gt=0)
    h: int = Field(gt=0)


class Style(Model):
    font: str = "default"  # a shipped font key, or a font file inside the bundle
    size: int = Field(48, gt=0, le=400)
    min_size: int = Field(0, ge=0)  # 0: size // 2; text shrinks down to this, then gets an ellipsis
    color: Colour = "#ffffff"
    stroke_width: int = Field(0, ge=0, le=20)
    stroke_color: Colour = "#000000"
    shadow: tuple[int, int] | None = None  # offset in pixels
    shadow_color: Colour = "#00000099"
    align: Literal["left", "center", "right"] = "center"
    valign: Literal["top", "middle", "bottom"] = "middle"
    max_lines: int = Field(2, ge=1, le=10)
    line_spacing: float = Field(1.2, ge=0.8, le=3.0)
    background: Colour | None = None  # a box behind the text
    fade_in: float = Field(0.0, ge=0)  # seconds
    fade_out: float = Field(0.0, ge=0)


class Bundle(Protocol):
    """What drawing needs of a loaded template (template.bundle.Template has it)."""

    @property
    def root(self) -> Path: ...
    @property
    def fonts(self) -> Mapping[str, Path]: ...


class Slot(Model):
    """The fields every slot has. Subclasses set `kind` to a one-value Literal and register."""

    kind: str
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    start: float = Field(ge=0)  # seconds; the window is [start, end)
    end: float = Field(gt=0)
    box: Box
    style: Style = Style()

    source_field: ClassVar[str]  # the manifest field holding the slot's expression
    uses_font: ClassVar[bool] = True  # whether the slot draws text with `style.font`

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: float, info: Any) -> float:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("must be greater than start")
        return end

    @property
    def where(self) -> str:
        return f"slots[{self.id}]"

    @property
    def source(self) -> str:
        """The slot's expression, as written in the manifest."""
        return str(getattr(self, self.source_field))

    def check(self, root: Path, expression: Expression, problems: ProblemCollector) -> None:
        """Upload-time checks against the bundle's files (the fields are checked already)."""

    def drawn(self, expression: Expression, context: Mapping[str, object], bundle: Bundle) -> Drawn:
        """The value as drawn for one customer: evaluate, format, check it can be drawn."""
        raise NotImplementedError

    def content(self, drawn: Drawn, t: float) -> str:
        """What the slot shows at `t` seconds (inside its window): the final value by default."""
        return drawn.text

    def picture(self, content: str, drawn: Drawn, bundle: Bundle) -> Image.Image:
        """`content` drawn into a box-sized RGBA image."""
        raise NotImplementedError


KINDS: dict[str, type[Slot]] = {}
S = TypeVar("S", bound=Slot)


def register(kind: type[S]) -> type[S]:
    """Make a slot kind known by the name in its `kind` Literal (a class decorator)."""
    (name,) = get_args(kind.model_fields["kind"].annotation)
    KINDS[name] = kind
    return kind
