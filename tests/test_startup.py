"""Start-up refusals (SPEC 2): a setting that is malformed, or a service a setting points at
that does not answer, stops the process at once with ONE line naming the thing and the
variable, exit status 2, no traceback, before any work begins."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.slack_fake import FakeSlack

CRM = str(Path(sys.executable).parent / "crm")
PROMPT = 30.0  # seconds: the bounded connect timeouts, with a margin for a busy machine


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: connections are refused


def run_crm(
    tmp_path: Path, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REDIS_", "CRM_"))}
    base.update(DATABASE_URL=f"sqlite:///{tmp_path / 'crm.db'}", PORT=str(closed_port()))
    base.update(env)
    started = time.monotonic()
    out = subprocess.run(
        [CRM, *args], env=base, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    return out, time.monotonic() - started


def one_line(out: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The refusal: exit 2, no traceback, and exactly one stderr line saying it."""
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    lines = [line for line in out.stderr.splitlines() if all(n in line for n in needles)]
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.mark.slow
def test_serve_with_slack_unreachable(tmp_path: Path) -> None:
    out, took = run_crm(
        tmp_path,
        "serve",
        SLACK_SIGNING_SECRET="s",
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_API_URL=f"http://127.0.0.1:{closed_port()}/api/",
    )
    line = one_line(out, "Slack Web API unreachable", "SLACK_API_URL=")
    assert line.startswith("error:") and "Connection refused" in line
    assert took < PROMPT


@pytest.mark.parametrize("args", [("jobs", "failed"), ("scheduler",)])
def test_redis_unreachable(tmp_path: Path, args: tuple[str, ...]) -> None:
    url = f"redis://crm:s3cret@127.0.0.1:{closed_port()}/0"
    out, took = run_crm(tmp_path, *args, REDIS_URL=url)
    line = one_line(out, "Redis unreachable at REDIS_URL=")
    assert "s3cret" not in out.stderr and "crm:***@" in line  # no password on a terminal
    assert took < PROMPT


@pytest.mark.parametrize(
    "args", [("migrate",), ("chat",), ("pipeline",), ("serve",)], ids=lambda a: a[0]
)
def test_database_unreachable(tmp_path: Path, args: tuple[str, ...]) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/crm"
    out, took = run_crm(
        tmp_path, *args, DATABASE_URL=url, SLACK_SIGNING_SECRET="s", SLACK_BOT_TOKEN="xoxb-1"
    )
    one_line(out, "database unreachable at DATABASE_URL=postgresql://")
    assert took < PROMPT


def test_a_malformed_setting_is_refused_before_serve_does_any_work(tmp_path: Path) -> None:
    """``CRM_HANDLER_THREADS=0``: refused by name before the database is even created, and
    before a single call to Slack (so no reminder is claimed and left waiting)."""
    with FakeSlack() as fake:
        out, _ = run_crm(
            tmp_path,
            "serve",
            SLACK_SIGNING_SECRET="s",
            SLACK_BOT_TOKEN="xoxb-1",
            SLACK_API_URL=fake.api_url,
            CRM_HANDLER_THREADS="0",
        )
        line = one_line(out, "CRM_HANDLER_THREADS='0' must be a whole number of at least 1")
        assert line.startswith("configuration:")
        assert fake.calls == []
    assert not (tmp_path / "crm.db").exists()


def test_gunicorn_refuses_a_malformed_setting_by_name(tmp_path: Path) -> None:
    """The Procfile's web line reads the same Settings before it forks a worker."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    conf = str(Path(__file__).resolve().parents[1] / "bot" / "gunicorn_conf.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CRM_", "WEB_"))}
    env.update(SLACK_SIGNING_SECRET="s", SLACK_BOT_TOKEN="xoxb-1", WEB_THREADS="lots")
    out = subprocess.run(
        [gunicorn, "-c", conf, "bot.web:create_app()"],
        env=env,
        cwd=Path(conf).parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "WEB_THREADS='lots' must be a whole number of at least 1" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_worker_refuses_a_malformed_setting_by_name(tmp_path: Path) -> None:
    """The Procfile's worker line (Dramatiq's CLI) stops at once with the variable named."""
    dramatiq = str(Path(sys.executable).parent / "dramatiq")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CRM_", "REDIS_"))}
    env["CRM_REMINDER_BATCH"] = "0"
    out = subprocess.run(
        [dramatiq, "workers.actors", "--processes", "1", "--threads", "1"],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "configuration: CRM_REMINDER_BATCH='0' must be a whole number of at least 1" in (
        out.stderr
    )
    assert "Traceback" not in out.stderr
