"""A template's captions: the base clip's narration, as the bundle's optional `captions.vtt`.

The file is WebVTT, checked once at upload and bounded before it is parsed (size, then
encoding and line length, then each cue): every refusal names the file and the line. Cues are
plain text, the same for every customer (an `{{ expression }}` in a cue is refused: personalized
captions come with the voice slot). Every render writes them back out (`render`): the VTT file
under the link's token, and the HLS subtitles, whose one segment maps its cue times to the TS
segments' clock with `X-TIMESTAMP-MAP`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vidmerge.errors import BundleError

CAPTIONS = "captions.vtt"  # the file's name at the top of a bundle
MAX_BYTES = 256 * 1024
MAX_CUES = 2000
MAX_LINE = 500  # characters
_STAMP = r"(?:(\d{2,3}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
_TIMING = re.compile(rf"^{_STAMP}[ \t]+-->[ \t]+{_STAMP}((?:[ \t]+[a-z]+:[^\s:]+)*)[ \t]*$")


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    text: str  # one or more lines, as written
    settings: str = ""  # as written after the end time (` align:center line:90%`), or none


def load(path: Path, duration: float) -> tuple[Cue, ...]:
    """The cues of `path`, checked against the base clip's `duration` (seconds)."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise BundleError(f"is {size} bytes, more than {MAX_BYTES}", where=CAPTIONS)
    return parse(_decoded(path.read_bytes()), duration)


def _decoded(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BundleError(f"byte {exc.start} is not UTF-8; save the file as UTF-8", where=_at(line)) from None


def _at(line: int) -> str:
    return f"{CAPTIONS}: line {line}"


def parse(text: str, duration: float) -> tuple[Cue, ...]:
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    long = next((n for n, line in enumerate(lines, 1) if len(line) > MAX_LINE), None)
    if long is not None:
        raise BundleError(f"is longer than {MAX_LINE} characters", where=_at(long))
    if not re.match(r"WEBVTT(?:[ \t].*)?$", lines[0]):
        raise BundleError("must start with WEBVTT", where=_at(1))
    cues: list[Cue] = []
    for first, block in _blocks(lines)[1:]:  # the first block is the header
        if "-->" not in block[0] and block[0].split(" ")[0] in ("NOTE", "STYLE", "REGION"):
            continue
        if len(cues) == MAX_CUES:
            raise BundleError(f"has more than {MAX_CUES} cues", where=_at(first))
        cues.append(_cue(first, block, duration, cues[-1] if cues else None))
    return tuple(cues)


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """The blank-line separated blocks, each with the number of its first line."""
    blocks: list[tuple[int, list[str]]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if n > 1 and not lines[n - 2].strip() or not blocks:
            blocks.append((n, []))
        blocks[-1][1].append(line)
    return blocks


def _cue(first: int, block: list[str], duration: float, previous: Cue | None) -> Cue:
    timing = 0 if "-->" in block[0] else 1  # an identifier may come first
    found = timing < len(block) and "-->" in block[timing]
    line = first + timing if found else first
    match = _TIMING.match(block[timing]) if found else None
    if match is None:
        raise BundleError("is not a cue timing like `00:00:01.000 --> 00:00:03.500`", where=_at(line))
    start, end = _ms(match.groups()[0:4]), _ms(match.groups()[4:8])
    if end <= start:
        raise BundleError("ends before it starts", where=_at(line))
    if end > round(duration * 1000):
        raise BundleError(f"ends at {end / 1000:.3f} s, after the base clip ({duration:.3f} s)", where=_at(line))
    if previous is not None and start < previous.start_ms:
        raise BundleError("starts before the cue above it (cues go in order of start)", where=_at(line))
    words = block[timing + 1 :]
    if not words:
        raise BundleError("cue has no text", where=_at(line))
    for n, text in enumerate(words, line + 1):
        if "-->" in text or "{{" in text or "{%" in text:
            raise BundleError("cue text may not hold `-->` nor an expression (captions are plain text)", where=_at(n))
    return Cue(start, end, "\n".join(words), match.group(9))


def _ms(parts: tuple[str | None, ...]) -> int:
    hours, minutes, seconds, millis = (int(p or 0) for p in parts)
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis


def render(cues: tuple[Cue, ...], mpegts: int | None = None) -> str:
    """The WebVTT file; with `mpegts`, an HLS subtitles segment whose time 0 is that TS time
    (90 kHz ticks): the clip's first frame."""
    lines = ["WEBVTT"]
    if mpegts is not None:
        lines.append(f"X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000")
    for cue in cues:
        lines += ["", f"{_stamp(cue.start_ms)} --> {_stamp(cue.end_ms)}{cue.settings}", cue.text]
    return "\n".join(lines) + "\n"


def _stamp(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"
