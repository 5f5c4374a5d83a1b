"""The ``crm`` command line (SPEC 9): wiring only; each command calls one module's function.

Bad arguments and expected refusals print one line and exit 2; nothing prints a traceback
for an operator's mistake.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from rich.console import Console

from crm.config import ConfigError, load_settings
from crm.db import open_database
from crm.errors import CRMError

console = Console()
err_console = Console(stderr=True)

Handler = Callable[[argparse.Namespace], int | None]
_COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Handler]] = []


def command(
    name: str, help_text: str, configure: Callable[[argparse.ArgumentParser], None] | None = None
):
    """Register a sub-command; ``configure`` adds its arguments."""

    def wrap(fn: Handler) -> Handler:
        _COMMANDS.append((name, help_text, configure or (lambda p: None), fn))
        return fn

    return wrap


def connect() -> None:
    """Open the configured database for a CLI command (config errors are one line)."""
    settings = load_settings()
    db = open_database(settings.database_url)
    db.connect(reuse_if_open=True)


@command("migrate", "apply pending database migrations")
def _migrate(args: argparse.Namespace) -> int:
    from crm.db import database
    from crm.schema import migrate

    connect()
    applied = migrate(database.obj)
    console.print(
        f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
    )
    return 0


def _configure_makemigrations(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="what the migration does, e.g. add_lead_score")


@command(
    "makemigrations",
    "write the next migration from the models (developers)",
    _configure_makemigrations,
)
def _makemigrations(args: argparse.Namespace) -> int:
    from crm.schema import make_migration

    path = make_migration(args.name)
    console.print(f"wrote {path}" if path else "models and migrations agree; nothing to write")
    return 0


def build_parser() -> argparse.ArgumentParser:
    _load_command_modules()
    parser = argparse.ArgumentParser(
        prog="crm", description="A CRM that sales teams run from Slack"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text, configure, fn in _COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        p.set_defaults(handler=fn)
    return parser


def _load_command_modules() -> None:
    """Commands that live beside their concept register themselves on import."""
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module)


# Modules whose import registers more commands (tokens, import/export, demo, serve, ...).
COMMAND_MODULES: list[str] = ["workers.cli"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except ConfigError as exc:
        err_console.print(f"[red]configuration:[/red] {exc}", highlight=False, soft_wrap=True)
        return 2
    except CRMError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
