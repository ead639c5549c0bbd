"""Bounds on what a caller sends, applied before it is authenticated or parsed.

A body is read in chunks and refused (413) as soon as it passes its limit, whatever its
Content-Length says (chunked bodies have none). JSON is refused before parsing when it nests
deeper than any real payload (Python's parser recurses, and a deep enough document exhausts it).
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

from vidmerge.errors import InvalidInput, TooLarge

MAX_NUMBER_CHARS = 40  # digits of a JSON number literal; the fields themselves take at most 18
MAX_JSON_DEPTH = 16  # {"data": {"usage": [..]}} is 3; MA tools' payloads stay well under 10
_OPEN, _CLOSE, _QUOTE, _BACKSLASH = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or TooLarge as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body exceeds {limit} bytes", where="body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body exceeds {limit} bytes", where="body")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes, *, where: str = "body") -> Any:
    """JSON with its depth bounded first; NaN and Infinity (which Python accepts) refused."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise InvalidInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", where=where)
    try:
        return json.loads(body or b"{}", parse_constant=_refuse_constant, parse_int=_int, parse_float=_float)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and the number checks below
        raise InvalidInput(f"not JSON ({exc})", where=where) from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_CHARS:  # before int(): a long literal costs CPU
        raise ValueError(f"a number of more than {MAX_NUMBER_CHARS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if len(text) > 2 * MAX_NUMBER_CHARS or not math.isfinite(value):  # 1e400 is inf
        raise ValueError("a number out of range")
    return value


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest, outside strings (one pass, no parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            depth -= 1
    return deepest
