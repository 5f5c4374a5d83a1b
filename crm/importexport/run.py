"""The import loop (batches, transactions, the report) and the export."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Any

from crm.acting import Actor
from crm.audit import change
from crm.db import database, is_postgres
from crm.errors import CRMError, ValidationError
from crm.importexport.reading import (
    BATCH_SIZE,
    COLUMNS,
    KINDS,
    WIDTH,
    Progress,
    _read,
    neutralise,
)
from crm.importexport.rows import _HANDLERS, ImportReport, _context, _Row

# --- the import loop -------------------------------------------------------------------------


def import_csv(
    actor: Actor,
    kind: str,
    path: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a CSV file of ``kind`` (leads, customers or orders) into the actor's company.

    Raises :class:`ValidationError` (field ``file``) for an unusable file, before any change;
    otherwise returns the report. ``progress(done, total)`` is called after each batch.
    """
    started = time.monotonic()
    rows = _read(path, kind)
    handler = _HANDLERS[kind]
    ctx = _context(actor)
    report = ImportReport(kind=kind, rows=len(rows))
    seen: set[str] = set()  # keys written earlier in this file
    if progress:
        progress(0, len(rows))
    for start in range(0, len(rows), BATCH_SIZE):
        parsed: list[_Row] = []
        for line, raw in rows[start : start + BATCH_SIZE]:
            try:
                if WIDTH in raw:
                    raise ValidationError("row", raw[WIDTH])
                parsed.append(_Row(line, *handler.parse(ctx, raw)))
            except CRMError as exc:
                report.reject(line, exc)
        with _write_transaction(), change(actor) as ch:  # one transaction and change id
            for row, exc in handler.resolve(ctx, parsed):
                report.reject(row.line, exc)
                parsed = [r for r in parsed if r is not row]
            known = handler.known(ctx, parsed) if parsed else set()
            fresh: list[_Row] = []
            for row in parsed:
                if row.key in seen or row.key in known:
                    report.already_present += 1
                else:
                    seen.add(row.key)
                    fresh.append(row)
            if fresh:
                handler.write(ctx, ch, fresh)
                report.created += len(fresh)
                report.change_ids.append(ch.change_id)
        if progress:
            progress(min(start + BATCH_SIZE, len(rows)), len(rows))
    report.rejected.sort(key=lambda r: r.line)
    report.seconds = time.monotonic() - started
    return report


def _write_transaction() -> Any:
    """On SQLite, take the write lock at BEGIN: a transaction that reads first and writes
    later fails with "database is locked" if another process wrote in between (see
    :mod:`crm.idempotency`). Inside an outer transaction (the demo) this is a savepoint."""
    return database.atomic() if is_postgres() else database.atomic(lock_type="IMMEDIATE")


EXPORT_COLUMNS = {
    "leads": ("ref", *COLUMNS["leads"]),
    "customers": ("ref", *COLUMNS["customers"]),
    "orders": COLUMNS["orders"],
}

# --- export ------------------------------------------------------------------------------------


def export_csv(actor: Actor, kind: str, path: str | os.PathLike[str]) -> int:
    """Write the company's records of ``kind`` with the import columns; returns the row count.

    Leads and customers start with their reference (``ref``: L12, C3), so a row can be found
    in Slack; orders carry their own ``ref`` (the external reference) already. Every cell a
    spreadsheet would run as a formula is neutralised (:func:`neutralise`).

    Written beside the target and renamed into place, so a failed export never leaves half a
    file that someone later imports. Money as plain decimals, times as ISO 8601 UTC: every
    spreadsheet and :func:`import_csv` read them back exactly.
    """
    if kind not in KINDS:
        raise ValidationError("kind", f"{kind!r} cannot be exported", hint=" or ".join(KINDS))
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    count = 0
    try:
        with partial.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(EXPORT_COLUMNS[kind])
            for row in _HANDLERS[kind].export_rows(actor):
                writer.writerow([neutralise(cell) for cell in row])
                count += 1
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ValidationError("file", f"cannot write {str(target)!r}: {exc.strerror}") from None
    return count
