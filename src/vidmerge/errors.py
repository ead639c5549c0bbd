"""The one exception tree of vidmerge.

    VidmergeError                 every error carries `retryable` and a `where` (field, slot, file)
    ├── InvalidInput              the caller sent something wrong; retrying the same thing fails again
    │   ├── BundleError           a template bundle or its manifest is malformed
    │   ├── DataError             customer data fails the template's input schema (lists every field)
    │   ├── ExpressionError       a template expression cannot be compiled or evaluated
    │   ├── GlyphError            a character has no glyph in the slot's font
    │   ├── DrawError             a slot's font or picture fails as it is drawn (the render fails)
    │   ├── TooLarge              a body or file over its limit (413)
    │   └── MediaRejected         an uploaded media file fails probing or the allow-list
    ├── NotFound                  unknown (or erased) template, render or object
    ├── Conflict                  the request contradicts the current state
    ├── Unauthorized              missing or bad credentials / signature
    ├── TooMany                   over a rate limit (429)
    ├── ConfigError               the settings contradict each other (a process refuses to start)
    └── Transient                 worth retrying later: the cause is outside the request
        ├── FFmpegError           ffmpeg failed or timed out (carries the tail of stderr)
        ├── StorageError          object storage is unavailable
        │   └── DiskFull          the data directory is (nearly) full
        ├── VerificationError     an output failed verification (triggers the full-render fallback)
        └── NotReady              a segment is still being rendered; ask again shortly

The HTTP layer maps this tree to RFC 9457 problem+json in exactly one handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.where else self.reason


class VidmergeError(Exception):
    retryable = False
    status = 500
    title = "Internal error"
    retry_after = 1  # seconds, for the Retry-After of a 503

    def __init__(self, message: str, *, where: str = "", problems: list[Problem] | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.problems = problems or ([Problem(where, message)] if where else [])

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class InvalidInput(VidmergeError):
    status = 422
    title = "Invalid input"


class BundleError(InvalidInput):
    title = "Invalid template bundle"


class DataError(InvalidInput):
    title = "Invalid render data"

    @classmethod
    def from_problems(cls, problems: list[Problem]) -> DataError:
        text = "; ".join(str(p) for p in problems)
        return cls(f"{len(problems)} problem(s) in data: {text}", problems=problems)


class ExpressionError(InvalidInput):
    title = "Invalid expression"


class GlyphError(InvalidInput):
    title = "Character not drawable"


class DrawError(InvalidInput):
    """Pillow or FreeType failed to draw a slot (a damaged glyph, a file that is not what its
    name says in a bundle accepted before the upload checked it): drawing again fails again."""

    title = "Template cannot be drawn"


class TooLarge(InvalidInput):
    status = 413
    title = "Payload too large"


class MediaRejected(InvalidInput):
    title = "Media file rejected"


class NotFound(VidmergeError):
    status = 404
    title = "Not found"


class Conflict(VidmergeError):
    status = 409
    title = "Conflict"


class Unauthorized(VidmergeError):
    status = 401
    title = "Unauthorized"


class TooMany(VidmergeError):
    status = 429
    title = "Too many requests"
    retryable = True


class ConfigError(VidmergeError):
    title = "Invalid configuration"


class Transient(VidmergeError):
    retryable = True
    status = 503
    title = "Temporarily unavailable"


class FFmpegError(Transient):
    title = "Media processing failed"

    def __init__(self, message: str, *, stderr_tail: str = "", where: str = ""):
        super().__init__(f"{message}\n{stderr_tail}".strip(), where=where)
        self.stderr_tail = stderr_tail


class StorageError(Transient):
    title = "Storage unavailable"


class DiskFull(StorageError):
    title = "Storage full"
    retry_after = 60


class VerificationError(Transient):
    title = "Output failed verification"


class NotReady(Transient):
    title = "Not ready yet"


@dataclass
class ProblemCollector:
    """Collects problems so that one response lists all of them."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, where: str, reason: str) -> None:
        if Problem(where, reason) not in self.problems:  # one problem, said once
            self.problems.append(Problem(where, reason))

    def raise_if_any(self, error: type[InvalidInput]) -> None:
        if not self.problems:
            return
        text = "; ".join(str(p) for p in self.problems)
        raise error(text, problems=list(self.problems))
