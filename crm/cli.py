"""The ``crm`` command line (SPEC 9): wiring only; each command calls one module's function.

Bad arguments and expected refusals print one line and exit 2; nothing prints a traceback
for an operator's mistake.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal

from peewee import DatabaseError, OperationalError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from crm import encryption, key_rotation, runtime
from crm.acting import Actor
from crm.config import ConfigError, Unreachable, load_settings
from crm.db import open_database
from crm.errors import CRMError, NotFound, ValidationError
from crm.models import Company

# soft_wrap: a message stays one line however narrow the terminal (scripts grep them)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

Handler = Callable[[argparse.Namespace], int | None]
# name -> (help, configure, handler); a module imported twice (run as ``__main__``) registers
# its commands again under the same names, replacing the first
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(
    name: str, help_text: str, configure: Callable[[argparse.ArgumentParser], None] | None = None
):
    """Register a sub-command; ``configure`` adds its arguments. The modules of other layers
    (``bot.cli``, ``workers.cli``, ``crm.insight.cli``) register theirs when the program's
    entry point (:func:`workers.cli.main`) imports them: ``crm/`` never names them."""

    def wrap(fn: Handler) -> Handler:
        _COMMANDS[name] = (help_text, configure or (lambda p: None), fn)
        return fn

    return wrap


def connect() -> None:
    """The CLI's composition: this command's runtime and database (config errors are one
    line)."""
    settings = load_settings()
    runtime.install(runtime.Runtime.for_settings(settings))
    connect_database(settings.database_url)


def connect_database(url: str) -> None:
    """Bind and connect, or say in one line that the database does not answer (within the
    driver's connect timeout, :func:`crm.db.open_database`)."""
    db = open_database(url)
    try:
        db.connect(reuse_if_open=True)
    except OperationalError as exc:
        raise Unreachable("database", "DATABASE_URL", url, exc) from None


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


# --- workspaces ---------------------------------------------------------------------------------


def _team_option(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument(
        "--team",
        required=required,
        metavar="TEAM_ID",
        help="Slack team id of the workspace (optional when the database holds only one)",
    )


def _company(team: str | None) -> Company:
    """The workspace a command acts on; without ``--team`` only when there is exactly one."""
    if team:
        company = Company.get_or_none(Company.team_id == team.strip())
        if company is not None:
            return company
    teams = [c.team_id for c in Company.select(Company.team_id).order_by(Company.team_id)]
    if not teams:
        raise NotFound(
            "no workspace yet: start the app with SLACK_BOT_TOKEN set (its team becomes the "
            "workspace), install it with OAuth, or run `crm demo`"
        )
    known = ", ".join(teams)
    if team:
        raise NotFound(f"no workspace with team id {team!r}; workspaces: {known}")
    if len(teams) == 1:
        return Company.get(Company.team_id == teams[0])
    raise ValidationError(
        "team",
        f"the database holds {len(teams)} workspaces ({known}); choose one",
        hint=f"--team {teams[0]}",
    )


def _system(company: Company) -> Actor:
    return Actor.system(company.id, "cli", tz=company.timezone)


# --- search index -------------------------------------------------------------------------------


def _configure_reindex(p: argparse.ArgumentParser) -> None:
    p.add_argument("--team", metavar="TEAM_ID", help="one workspace only (default: all)")


@command(
    "reindex",
    "rebuild the word index of /crm find and the type-ahead from the records",
    _configure_reindex,
)
def _reindex(args: argparse.Namespace) -> int:
    """The index follows every change by itself; this is for rows written around the
    services (a restore, a hand-run SQL fix)."""
    from crm.db import database
    from crm.search import reindex_company

    connect()
    companies = [_company(args.team)] if args.team else list(Company.select())
    for company in companies:
        with database.atomic():
            count = reindex_company(company.id)
        console.print(f"{company.team_id}: {count} records indexed")
    return 0


# --- tokens ------------------------------------------------------------------------------------


def _configure_token(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="make a token (printed once, on the last line)")
    _team_option(create)
    create.add_argument("--name", default="api", help="what the token is for")
    create.add_argument(
        "--scope",
        choices=("read", "write"),
        default="write",
        help="read: the JSON API refuses its writes (403); write (default): reads and writes",
    )
    listing = sub.add_parser("list", help="list the workspace's tokens")
    _team_option(listing)
    revoke = sub.add_parser("revoke", help="revoke a token by id")
    _team_option(revoke)
    revoke.add_argument("id", type=int, help="token id (from `crm token list`)")


@command("token", "create, list or revoke JSON API tokens", _configure_token)
def _token(args: argparse.Namespace) -> int:
    from crm import tokens

    connect()
    company = _company(args.team)
    actor = _system(company)
    if args.action == "create":
        token, plaintext = tokens.create_token(actor, args.name, args.scope)
        console.print(
            f"Token {token.id} ({token.name}, {token.scope}) for {company.team_id}. "
            "Copy it now: it is stored hashed and will not be shown again.",
            highlight=False,
        )
        sys.stdout.flush()
        print(plaintext)  # alone on the last line, never wrapped or styled
        return 0
    if args.action == "revoke":
        token = tokens.revoke_token(actor, args.id)
        console.print(f"Token {token.id} ({token.name}) revoked.", highlight=False)
        return 0
    table = Table("id", "name", "scope", "prefix", "created (UTC)", "last used (UTC)", "status")
    for t in tokens.list_tokens(actor):
        table.add_row(
            str(t.id),
            t.name,
            t.scope,
            t.prefix + "…",
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
            "revoked" if t.revoked_at else "active",
        )
    console.print(table)
    return 0


# --- secrets at rest ---------------------------------------------------------------------------


def _configure_secrets(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser(
        "rotate", help="re-encrypt every stored Slack secret with the first CRM_SECRET_KEY key"
    )
    sub.add_parser("new-key", help="print a new key for CRM_SECRET_KEY")


@command("secrets", "rotate the key of secrets stored in the database", _configure_secrets)
def _secrets(args: argparse.Namespace) -> int:
    if args.action == "new-key":
        print(encryption.new_key())
        return 0
    connect()
    count = key_rotation.rotate_all()
    console.print(
        f"re-encrypted {count} Slack installation(s) with the current key; keys after the "
        "first may now leave CRM_SECRET_KEY",
        highlight=False,
    )
    return 0


# --- import / export -----------------------------------------------------------------------------


def _configure_transfer(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=("leads", "customers", "orders"))
    p.add_argument("file", help="CSV file")
    _team_option(p)


@command(
    "import", "import leads, customers or orders from CSV (safe to repeat)", _configure_transfer
)
def _import(args: argparse.Namespace) -> int:
    from crm.importexport import import_csv

    connect()
    actor = _system(_company(args.team))
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task(f"importing {args.kind}", total=None)
        report = import_csv(
            actor,
            args.kind,
            args.file,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"{args.kind}: {report.rows} row(s): {report.created} created, "
        f"{report.already_present} already present, {len(report.rejected)} rejected "
        f"({report.seconds:.1f} s)",
        highlight=False,
    )
    if report.rejected:
        table = Table("line", "field", "reason", title="rejected rows")
        for r in report.rejected:
            table.add_row(str(r.line), r.field, r.reason)
        console.print(table)
        # the count alone on the last line, and a status scripts can test (README)
        console.print(f"{len(report.rejected)} row(s) rejected", highlight=False)
        return 1
    return 0


@command("export", "export leads, customers or orders to CSV", _configure_transfer)
def _export(args: argparse.Namespace) -> int:
    from crm.importexport import export_csv

    connect()
    count = export_csv(_system(_company(args.team)), args.kind, args.file)
    console.print(f"wrote {count} {args.kind} to {args.file}", highlight=False)
    return 0


# --- demo and pipeline ---------------------------------------------------------------------------


def _configure_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reset", action="store_true", help="delete the demo workspace first and load it again"
    )


@command("demo", "load a realistic demo workspace (team id TDEMO)", _configure_demo)
def _demo(args: argparse.Namespace) -> int:
    from crm.demo import load_demo

    connect()
    with console.status("loading the demo workspace…"):
        summary = load_demo(reset=args.reset)
    console.print(summary.describe(), highlight=False)
    return 0


def _configure_pipeline(p: argparse.ArgumentParser) -> None:
    _team_option(p)
    p.add_argument(
        "--period", default="90d", help="look-back for velocity and win/loss (90d, 12w, 6m)"
    )


@command("pipeline", "the team's pipeline, velocity and win/loss as tables", _configure_pipeline)
def _pipeline(args: argparse.Namespace) -> int:
    from crm.analytics import pipeline_summary, velocity, win_loss
    from crm.parsing import format_money, parse_period

    connect()
    days = parse_period(args.period, "period")
    company = _company(args.team)
    actor = _system(company)
    summary = pipeline_summary(actor, team=True)
    speed = velocity(actor, team=True, period_days=days)
    outcome = win_loss(actor, team=True, period_days=days)

    def money(amount: Decimal | None) -> str:
        return "—" if amount is None else format_money(amount, company.currency)

    def percent(rate: float | None) -> str:
        return "—" if rate is None else f"{rate * 100:.1f}%"

    table = Table("stage", "deals", "total", "weighted", title=f"Open pipeline · {company.team_id}")
    for col in table.columns[1:]:
        col.justify = "right"
    for s in summary.stages:
        table.add_row(
            s.stage.replace("_", " "), str(s.count), money(s.amount), money(s.weighted_amount)
        )
    table.add_section()
    table.add_row(
        "total", str(summary.count), money(summary.amount), money(summary.weighted_amount)
    )
    console.print(table)

    cycle = speed.average_cycle_days
    console.print(
        f"Velocity ({days} days): {money(speed.per_day)} per day · "
        f"{speed.open_count} open × {money(speed.average_won_amount)} average won × "
        f"{percent(speed.win_rate)} win rate ÷ "
        f"{'—' if cycle is None else f'{cycle:.1f}'} days cycle",
        highlight=False,
    )
    total = outcome.total
    console.print(
        f"Win rate ({days} days): {percent(total.win_rate_count)} by count "
        f"({total.won_count} won, {total.lost_count} lost), "
        f"{percent(total.win_rate_value)} by value",
        highlight=False,
    )
    if outcome.top_loss_reasons:
        reasons = Table("loss reason", "deals", "amount", title="Top loss reasons")
        for col in reasons.columns[1:]:
            col.justify = "right"
        for r in outcome.top_loss_reasons:
            reasons.add_row(r.reason, str(r.count), money(r.amount))
        console.print(reasons)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm", description="A CRM that sales teams run from Slack"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, configure, fn) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        p.set_defaults(handler=fn)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except Unreachable as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    except (ConfigError, encryption.SecretsError) as exc:
        err_console.print(f"[red]configuration:[/red] {exc}", highlight=False)
        return 2
    except CRMError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}", highlight=False)
        return 2
    except DatabaseError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        err_console.print(
            f"[red]database:[/red] {first} (is DATABASE_URL right, and did `crm migrate` run?)",
            highlight=False,
        )
        return 2
    except KeyboardInterrupt:
        return 130
