"""The file side of an import: columns, header checks, reading every row first."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from crm.errors import ValidationError
from crm.models import (
    BaseModel,
)

KINDS = ("leads", "customers", "orders")
COLUMNS: dict[str, tuple[str, ...]] = {
    # leads' lost_reason is an addition to the spec's columns: a lost lead needs its reason
    "leads": ("name", "email", "phone", "company", "source", "value", "probability",
              "priority", "status", "assigned_to", "lost_reason"),
    "customers": ("name", "email", "phone", "company", "industry", "tags"),
    "orders": ("customer", "amount", "cost", "date", "ref"),
}  # fmt: skip
REQUIRED = {"leads": ("name",), "customers": ("name",), "orders": ("customer", "amount")}
# Headers other tools write for the same thing (the original system's field names, mostly).
ALIASES = {"company_name": "company", "estimated_value": "value", "assigned": "assigned_to",
           "assignee": "assigned_to", "external_ref": "ref", "reference": "ref",
           "ordered_at": "date"}  # fmt: skip
BATCH_SIZE = 500
FUTURE_SLACK = 300  # seconds an order may lie in the future (clock skew), as in add_order
WIDTH = "\x00width"  # marks a row with more or fewer values than the header has columns
# accepted in a header, not imported: the record reference an export writes first (L12, C3);
# a reference means nothing in another workspace, so rows are matched by their contents
IGNORED = {"leads": ("ref",), "customers": ("ref",), "orders": ()}
# what a spreadsheet runs as a formula when a cell starts with it (OWASP "CSV injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
Progress = Callable[[int, int], None]
M = TypeVar("M", bound=BaseModel)


# --- cells ----------------------------------------------------------------------------------


def neutralise(cell: str) -> str:
    """An exported cell a spreadsheet shows as text instead of running it: a leading ``'``
    before a formula character (OWASP's advice). Plain numbers (``-12.5``) are left alone."""
    if cell.startswith(FORMULA_START) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def restore(cell: str) -> str:
    """The value :func:`neutralise` protected, so an export imports back as it was."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_START):
        return cell[1:]
    return cell


# --- reading ---------------------------------------------------------------------------------


def _header(raw: list[str], kind: str) -> list[str]:
    allowed = COLUMNS[kind] + IGNORED[kind]
    names = [ALIASES.get(h, h) for h in (c.strip().lower().replace(" ", "_") for c in raw)]
    unknown = [raw[i].strip() for i, n in enumerate(names) if n not in allowed]
    if unknown:
        raise ValidationError(
            "file",
            f"unknown column(s) {', '.join(repr(u) for u in unknown)} for {kind}",
            hint=f"the columns {','.join(COLUMNS[kind])}",
        )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValidationError("file", f"column(s) {', '.join(twice)} appear more than once")
    missing = [c for c in REQUIRED[kind] if c not in names]
    if missing:
        raise ValidationError(
            "file",
            f"required column(s) {', '.join(missing)} missing",
            hint=f"a first line such as {','.join(allowed)}",
        )
    return names


def _read(path: str | os.PathLike[str], kind: str) -> list[tuple[int, dict[str, str]]]:
    """All data rows as (line, {column: text}); refuses an unusable file as a whole.

    The file is read before anything is written so a file that turns out to be broken at row
    9,000 changes nothing. A CSV that fits in a sales team's spreadsheet fits in memory.
    """
    if kind not in KINDS:
        raise ValidationError("kind", f"{kind!r} cannot be imported", hint=" or ".join(KINDS))
    p = Path(path)
    if not p.is_file():
        raise ValidationError("file", f"{str(p)!r} is not a readable file")
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            first = next(reader, None)
            if first is None or not any(c.strip() for c in first):
                raise ValidationError(
                    "file", "the file is empty", hint=f"a first line {','.join(COLUMNS[kind])}"
                )
            names = _header(first, kind)
            end = reader.line_num
            for values in reader:
                start, end = end + 1, reader.line_num
                if not any(v.strip() for v in values):
                    continue  # blank lines, often at the end of a spreadsheet export
                row = dict(zip(names, (restore(v) for v in values), strict=False))
                if len(values) != len(names):
                    more = "more" if len(values) > len(names) else "fewer"
                    row[WIDTH] = (
                        f"{len(values)} value(s), {more} than the header's {len(names)} columns"
                    )
                rows.append((start, row))
    except UnicodeDecodeError:
        raise ValidationError(
            "file", "the file is not UTF-8 text", hint='saving it as "CSV UTF-8"'
        ) from None
    except csv.Error as exc:
        raise ValidationError("file", f"line {reader.line_num} is not valid CSV ({exc})") from None
    except OSError as exc:
        raise ValidationError("file", f"cannot read {str(p)!r}: {exc.strerror}") from None
    return rows
