"""P7: the JSON API's lead create and list throughput against django-crm 1.35.0, same load.

Our side: ``POST /cms/crm/leads`` (the original body) and ``GET /cms/crm/leads?limit=10``
served by gunicorn with the Procfile's configuration (``bot/gunicorn_conf.py``: 2 gthread
workers x 8 threads unless ``--workers``/``--threads``), on a PostgreSQL server of the run's
own started as the peer's is (server defaults, autovacuum on; see
:func:`bench._common.private_postgres`), with Redis for the rate limiter as in production
(``--no-redis`` for the in-process limiter), driven by ``../shared/peer/load.py --api seed``
(N closed-loop clients with keep-alive sessions). After the warm-up the tables are analysed,
as autovacuum does on a production server within its first minute.
The peer: ``../shared/peer/run.sh`` (django-crm's own lead API under its gunicorn, pool on,
its private PostgreSQL and Redis), driven by the same ``load.py``, in the same sitting.

Prints creates/s, lists/s, p50 and p99 for both and the ratios, with the load average::

    bash ../shared/peer/setup.sh                       # once (django-crm, its PostgreSQL, Redis)
    .venv/bin/python -m bench.api                      # 20 clients, 20 s per run, 2 runs each
    .venv/bin/python -m bench.api --duration 5 --runs 1 --skip-peer   # a quick look at ours

Each side runs its create runs first, then its list runs over the leads they made, as
``run.sh`` does. The rate limit is raised for the run (``CRM_API_RATE_LIMIT``): 20 clients
would otherwise meet the default 600 requests a minute in a second.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._common import (
    FakeSlackProcess,
    analyze,
    empty_tables,
    open_bench_database,
    private_postgres,
)
from crm import tokens
from crm.acting import Actor
from crm.companies import get_or_create_company
from tests.e2e_support import ROOT, start_web

PEER = ROOT.parent / "shared" / "peer"
PEER_DIR = Path(os.environ.get("PEER_DIR", "/tmp/peer"))
PG_SHARED = "postgresql://postgres@127.0.0.1:5432/crm_bench_api"


def _load(python: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [python, str(PEER / "load.py"), *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _prepare(url: str) -> str:
    """An empty migrated database with one workspace; returns a write token of it."""
    db = open_bench_database(url)
    with db.atomic():
        empty_tables(db)
    company = get_or_create_company("TBENCHAPI", "Bench")
    _, plaintext = tokens.create_token(Actor.system(company.id, "cli"), "bench", "write")
    db.close()
    return plaintext


def _analyze(url: str) -> None:
    """Planner statistics of the tables the warm-up filled, as autovacuum gathers them on a
    production server within its first minute (``autovacuum_naptime``), here before the timed
    runs rather than during one of them. Without statistics every index that starts with
    ``company_id`` looks alike to the planner, and the duplicate check's lookups by email and
    company key may be planned as a read of every lead of the company."""
    db = open_bench_database(url)
    analyze(db)
    db.close()


def ours(args: argparse.Namespace, python: str) -> list[dict[str, Any]]:
    token = _prepare(args.database_url)
    extra = {
        "PYTHONPATH": str(ROOT),
        "GUNICORN_ACCESS_LOG": "off",
        "CRM_API_RATE_LIMIT": "1000000000",
    }
    if not args.no_redis:
        extra.update(REDIS_URL=args.redis_url, CRM_REDIS_NAMESPACE="crm-bench-api")
    results = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeSlackProcess() as fake,
        start_web(
            args.database_url,
            fake,  # type: ignore[arg-type]
            Path(tmp),
            workers=args.workers,
            threads=args.threads,
            extra_env=extra,
        ) as web,
    ):
        token_file = Path(tmp) / "token.txt"
        token_file.write_text(token)
        common = ["--api", "seed", "--base", web.url, "--token-file", str(token_file)]
        common += ["--clients", str(args.clients)]
        for op in ("list", "create"):  # warm-up, not reported: imports, pools, statements
            _load(python, *common, "--op", op, "--duration", "3", "--label", "warmup")
        _analyze(args.database_url)
        for op in ("create", "list"):
            for r in range(args.runs):
                label = f"ours run{r + 1}"
                res = _load(python, *common, "--op", op, "--duration", str(args.duration),
                            "--label", label)  # fmt: skip
                results.append(res)
                print(_line("ours", res), flush=True)
    return results


def peer(args: argparse.Namespace) -> list[dict[str, Any]]:
    out_file = PEER_DIR / "bench_api_results.jsonl"
    out_file.unlink(missing_ok=True)
    env = {
        **os.environ,
        "POOL": str(args.peer_pool),
        "CLIENTS": str(args.clients),
        "DURATION": str(args.duration),
        "OUT": str(out_file),
        "PEER_DIR": str(PEER_DIR),
    }
    subprocess.run(["bash", str(PEER / "setup.sh")], env=env, check=True, capture_output=True)
    subprocess.run(["bash", str(PEER / "run.sh")], env=env, check=True, capture_output=True)
    results = [json.loads(line) for line in out_file.read_text().splitlines() if line.strip()]
    for res in results:
        print(_line("django-crm", res), flush=True)
    return results


def _line(side: str, r: dict[str, Any]) -> str:
    errors = f", {r['errors']} errors {r['error_samples'][:1]}" if r["errors"] else ""
    return (
        f"  {side:10} {r['op']:6} {r['rps']:8.1f}/s  p50 {r['p50_ms']:7.1f} ms  "
        f"p99 {r['p99_ms']:7.1f} ms  ({r['ok']} ok{errors}) {r['label']}"
    )


def _summary(results: list[dict[str, Any]], op: str) -> dict[str, float]:
    runs = [r for r in results if r["op"] == op]
    return {
        "rps": statistics.fmean(r["rps"] for r in runs),
        "p50": statistics.fmean(r["p50_ms"] for r in runs),
        "p99": statistics.fmean(r["p99_ms"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.api", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        help=f"our database, emptied (default: a PostgreSQL server of the run's own, started "
        f"like the peer's; e.g. {PG_SHARED} for the machine's)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-redis", action="store_true", help="in-process rate limiter")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    parser.add_argument("--runs", type=int, default=2, help="timed runs per operation")
    parser.add_argument("--workers", type=int, default=2, help="WEB_CONCURRENCY default")
    parser.add_argument("--threads", type=int, default=8, help="WEB_THREADS default")
    parser.add_argument("--peer-pool", type=int, choices=(0, 1), default=1)
    parser.add_argument("--skip-peer", action="store_true", help="measure ours only")
    args = parser.parse_args()
    python = str(PEER_DIR / "venv" / "bin" / "python")
    if args.skip_peer or not Path(python).exists():
        python = sys.executable
    print(f"load average before: {os.getloadavg()}")
    print(f"P7 JSON API: {args.clients} clients, {args.duration:g} s per run, {args.runs} runs")
    with contextlib.ExitStack() as stack:
        if args.database_url is None:
            args.database_url = stack.enter_context(private_postgres("crm_bench_api"))
            print("our PostgreSQL: a server of this run's own, on the server's defaults")
        mine = ours(args, python)
    theirs = [] if args.skip_peer else peer(args)
    print(f"load average after: {os.getloadavg()}")
    print()
    print(f"{'':18}{'ours':>24}{'django-crm':>26}{'ratio':>10}")
    for op, noun in (("create", "creates"), ("list", "lists")):
        a = _summary(mine, op)
        if not theirs:
            print(f"{noun + '/s':18}{a['rps']:>24.1f}")
            print(f"{'  p50 / p99 ms':18}{a['p50']:>12.1f} / {a['p99']:<9.1f}")
            continue
        b = _summary(theirs, op)
        print(f"{noun + '/s':18}{a['rps']:>24.1f}{b['rps']:>26.1f}{a['rps'] / b['rps']:>9.1f}x")
        print(
            f"{'  p50 / p99 ms':18}{a['p50']:>12.1f} / {a['p99']:<9.1f}"
            f"{b['p50']:>14.1f} / {b['p99']:<9.1f}{b['p99'] / a['p99']:>6.1f}x lower p99"
        )
        if a["errors"] or b["errors"]:
            print(f"  errors: ours {a['errors']:.0f}, django-crm {b['errors']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
