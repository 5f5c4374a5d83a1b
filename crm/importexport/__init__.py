"""CSV import and export of leads, customers and orders (SPEC 9), safe to repeat.

How an import works, and why:

* The whole file is read and its header checked before anything is written: an unreadable
  file or unknown/missing columns refuse the file as a whole (the CLI exits 2).
* Each row is parsed with :mod:`crm.parsing` and cleaned with the services' own cleaners
  (``crm.leads.clean_*``), so a cell means what it means in Slack and the API. A bad row is
  reported as (line, field, reason) and changes nothing; the other rows go ahead.
* Rows are written in batches of :data:`BATCH_SIZE`: one transaction and ONE audit change id
  per batch (every created record and history row still gets its own audit row, so Undo of
  that change id removes the batch). Why not ``create_lead`` per row: each call is a
  transaction with ~20 statements (claim, duplicate check, history, audit, key binding), and
  10,000 rows took ~100 s on SQLite, over the budget. The batch writer does what those use
  cases persist (the record, its ``StageChange`` rows, audit rows, the idempotency key,
  segment counts and customer metrics once per batch instead of once per row) with the
  services' validation. If a create use case grows a new side effect, it must be added here
  too: keep the ``_write_*`` functions next to their service in mind.
* A crash loses at most the current batch; re-running the file picks up where it stopped.
* Repeating an import creates nothing new: leads and customers carry the idempotency key
  ``import:<kind>:<stable key>`` (email, else phone, else name and company, normalised), and a
  row whose email or phone is already on a record of the company counts as present too,
  whoever made that record. Orders are keyed by their reference (``ref``; a row without one
  gets a reference derived from customer, amount and date). Rows found so are reported as
  "already present". Known keys are looked up once per batch, not per row.
* After an Undo of an import batch, the same file imports those rows again (the import is an
  explicit request; the leftover idempotency keys of undone records are replaced).
"""

from crm.importexport.reading import BATCH_SIZE, COLUMNS, KINDS
from crm.importexport.rows import ImportReport, RejectedRow, contact_key, idempotency_key
from crm.importexport.run import export_csv, import_csv

__all__ = [
    "BATCH_SIZE",
    "COLUMNS",
    "KINDS",
    "ImportReport",
    "RejectedRow",
    "contact_key",
    "export_csv",
    "idempotency_key",
    "import_csv",
]
