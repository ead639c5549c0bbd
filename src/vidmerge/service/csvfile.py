"""CSV files as marketers' tools write them: UTF-8, UTF-8 with a BOM, or Shift_JIS (CP932, what
Excel writes in Japan), read into a header and rows with their spreadsheet row numbers, and
written back in the same encoding.

Files are often pasted together from several tools, so the encoding is found line by line: the
file's is the one most of its lines are in, and a line in neither is read with U+FFFD where its
bytes fail, for `garbled` to point at (a row pasted in UTF-8 into a CP932 file is told by its
text: written back in CP932, it is UTF-8 again).

Reading is bounded before any work: the caller bounds the bytes, and here the rows, the columns
and each cell (the csv module's field limit). A cell holding a NUL is refused, naming its row and
column (PostgreSQL can store none; service/ids.py).

Writing is the one place every CSV vidmerge answers with goes through (campaign results,
analytics), so formula injection is stopped here once: a text cell that a spreadsheet would take
for a formula is written as text (see `cell`).
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from vidmerge.errors import InvalidInput
from vidmerge.service import ids

ENCODINGS = ("utf-8", "utf-8-sig", "cp932")  # what results are written in
ALIASES = {"utf8": "utf-8", "utf-8-bom": "utf-8-sig", "shift_jis": "cp932", "shift-jis": "cp932",
           "sjis": "cp932", "ms932": "cp932", "windows-31j": "cp932"}  # fmt: skip
MAX_COLUMNS = 200
# What makes Excel, LibreOffice or Google Sheets read a cell as a formula (OWASP, CSV Injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Cell = str | int | float | None  # int and float: figures vidmerge computed itself; None: empty


@dataclass(frozen=True)
class Sheet:
    encoding: str
    header: list[str]  # names stripped; "" for a column without a name (ignored)
    rows: list[tuple[int, list[str]]]  # (row number as a spreadsheet shows it, the header being 1, cells)


def encoding_name(name: str) -> str:
    """One of ENCODINGS, from what a caller may write (`Shift_JIS`, `utf8`, ...)."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in ENCODINGS:
        raise InvalidInput(f"{name!r} is not one of {', '.join(ENCODINGS)}", where="encoding")
    return key


def decode(content: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The text and its encoding: the one named, else found (a BOM, else UTF-8 or CP932, the one
    most lines are in). A line not in it keeps U+FFFD where its bytes fail; the header may not."""
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InvalidInput('UTF-16 (Excel\'s "Unicode text") is not read: save as "CSV UTF-8"', where="file")
    if encoding is None:
        encoding = "utf-8-sig" if content.startswith(codecs.BOM_UTF8) else _most_lines(content)
    header = content.split(b"\n", 1)[0]
    try:
        header.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the header's byte {exc.start} is not {encoding}: neither UTF-8 nor Shift_JIS "
                           '(CP932)? save as "CSV UTF-8"', where="file") from None  # fmt: skip
    return content.decode(encoding, errors="replace"), encoding


def _most_lines(content: bytes) -> str:
    """UTF-8 unless more lines fail it than hold UTF-8 beyond ASCII (then CP932)."""
    try:
        content.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    utf8 = failed = 0
    for line in content.split(b"\n"):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 += 1
        except UnicodeDecodeError:
            failed += 1
    return "utf-8" if utf8 > failed else "cp932"


def garbled(cell: str, encoding: str) -> bool:
    """Whether a cell holds what its file's encoding could not carry: bytes valid in neither
    (U+FFFD), a user-defined character (CP932's private use: a tool's own glyph, or bytes that
    happened to land there), or, in a CP932 file, a cell written in UTF-8 (「譌･譛ｬ」 for 日本)."""
    if "\ufffd" in cell or any(_private(ch) for ch in cell):
        return True
    if encoding != "cp932" or cell.isascii():
        return False
    try:
        again = cell.encode("cp932").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False
    return any(ord(ch) >= 0x800 for ch in again)  # Japanese, not two half-width kana that happen to be UTF-8


def _private(char: str) -> bool:
    return unicodedata.category(char) == "Co"


def read(content: bytes, *, max_rows: int, encoding: str | None = None) -> Sheet:
    """Parse a CSV upload. Blank rows are skipped; a file-level problem (no header, a repeated
    column, too many rows, a broken quote) raises InvalidInput naming where."""
    text, found = decode(content, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [ids.check_text(name.strip(), "file.header") for name in next(reader, [])]
        _check_header(header)
        rows = list(_rows(reader, header, max_rows))
    except csv.Error as exc:
        raise InvalidInput(f"line {reader.line_num}: {exc}", where="file") from None
    return Sheet(found, header, rows)


def _check_header(header: list[str]) -> None:
    if not any(header):
        raise InvalidInput("no header row: the first row names the columns", where="file")
    if len(header) > MAX_COLUMNS:
        raise InvalidInput(f"{len(header)} columns; at most {MAX_COLUMNS}", where="file")
    seen: dict[str, int] = {}
    for n, name in enumerate(header, start=1):
        if name and name in seen:
            raise InvalidInput(f"column {name!r} appears twice (columns {seen[name]} and {n})", where="file")
        seen[name] = n


def _rows(reader: Iterator[list[str]], header: list[str], max_rows: int) -> Iterator[tuple[int, list[str]]]:
    count = 0
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line (Excel leaves some at the end)
        count += 1
        if count > max_rows:
            raise InvalidInput(f"more than {max_rows} rows", where="file")
        if len(cells) > MAX_COLUMNS:
            raise InvalidInput(f"row {number}: {len(cells)} cells", where="file")
        for n, cell in enumerate(cells):
            ids.check_text(cell, f"row {number}, column {_name(header, n)}")
        yield number, cells


def _name(header: list[str], n: int) -> str:
    return header[n] if n < len(header) and header[n] else str(n + 1)


def cell(value: Cell) -> str | int | float:
    """A cell as written. Text that a spreadsheet would run as a formula (`=HYPERLINK(...)` in a
    customer id) gets a leading `'`, which spreadsheets take as "this is text", as OWASP
    recommends; `write` also quotes every text cell, so it stays one string whatever the
    separator a spreadsheet guesses. Numbers are left alone: only vidmerge's own figures are
    passed as int or float (a negative one is a number, not an attack), while anything that came
    from a user (ids, columns, reasons) arrives as text and is escaped, "-1234" included."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write(rows: Iterable[Sequence[Cell]], encoding: str) -> Iterator[bytes]:
    """CSV text in `encoding` (a BOM first for utf-8-sig), a chunk per batch of rows, CRLF line
    ends as Excel writes them, every cell through `cell`, text quoted. A cell that cannot be
    written in it raises UnicodeEncodeError."""
    encoder = codecs.getincrementalencoder(encoding)()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    for n, row in enumerate(rows, start=1):
        writer.writerow([cell(value) for value in row])
        if n % 500 == 0:
            yield encoder.encode(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
    yield encoder.encode(buffer.getvalue(), final=True)
