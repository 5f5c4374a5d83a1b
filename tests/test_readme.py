"""The README's run command, as written, shows the bot answering; the README and the docs it
links to are self-contained; its configuration table is the Settings object."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from crm.config import variables

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CONVERSATION = 'lead add "Jane Doe" email=jane@acme.com value=50k\n1\npipeline\n'


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [b.strip() for b in blocks]


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REDIS_", "CRM_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'crm.db'}"
    return env


def check_conversation(out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Loaded demo workspace TDEMO" in out.stdout
    assert "You are Chanda Phiri (rep) in TDEMO" in out.stdout
    assert re.search(r"Created \*L\d+\* Jane Doe\n\[1\] Undo", out.stdout), out.stdout
    assert "Undone: that change was reverted." in out.stdout  # "1" clicked Undo
    assert "Chanda Phiri's pipeline" in out.stdout and "*Total*" in out.stdout
    assert re.search(r"K[\d,]+ weighted", out.stdout), "amounts in the company currency"
    assert "Traceback" not in out.stdout + out.stderr


def test_the_two_commands() -> None:
    run, test = readme_commands()[:2]
    assert test == ".ci/test"
    steps = [s.strip() for s in run.split("&&")]
    assert steps == [
        ".ci/setup",
        ".venv/bin/crm migrate",
        ".venv/bin/crm demo",
        ".venv/bin/crm chat",
    ]
    assert "crm serve" in (ROOT / "README.md").read_text().split(run, 1)[1].split("##")[0], (
        "`crm serve`, the Slack entry point, is documented right after the run command"
    )


@pytest.mark.slow
def test_run_command_shows_the_bot_answering(tmp_path: Path) -> None:
    """The run command in this tree (``.ci/setup`` finds ``.venv`` ready) with a conversation
    on ``crm chat``'s stdin: create a lead, click its Undo by number, ask for the pipeline."""
    run = readme_commands()[0]
    out = subprocess.run(
        run,
        shell=True,
        cwd=ROOT,
        env=clean_env(tmp_path),
        input=CONVERSATION,
        capture_output=True,
        text=True,
        timeout=600,
    )
    check_conversation(out)


@pytest.mark.slow
def test_run_command_from_a_fresh_clone(tmp_path: Path) -> None:
    """What a newcomer does: clone, then the README's run command, nothing else."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    assert not (clone / ".venv").exists()
    env = clean_env(tmp_path)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))
    )
    out = subprocess.run(
        readme_commands()[0],
        shell=True,
        cwd=clone,
        env=env,
        input=CONVERSATION,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    check_conversation(out)
    shutil.rmtree(clone / ".venv", ignore_errors=True)


def test_readme_and_docs_point_nowhere_outside_the_clone() -> None:
    for doc in DOCS:
        text = doc.read_text()
        assert "../" not in text and "SPEC" not in text, f"{doc.name} points outside the repo"
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address, not a file
            assert (doc.parent / target).resolve().is_file(), f"{doc.name} links to {target}"


def readme_variables() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_the_configuration_table_lists_every_setting_and_nothing_else() -> None:
    documented, settings = readme_variables(), set(variables())
    assert documented - settings == set(), "in the README but not in crm.config.Settings"
    assert settings - documented == set(), "in crm.config.Settings but not in the README"
