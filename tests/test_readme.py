"""The README's run command, as written, produces the demo pipeline in the terminal."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [b.strip() for b in blocks]


def test_run_command_prints_the_demo_pipeline(tmp_path):
    run, test = readme_commands()[:2]
    assert test == ".ci/test"
    steps = [s.strip() for s in run.split("&&")]
    assert steps[-1].endswith("crm serve"), "the run command ends by serving the product"
    # Everything before `crm serve` (which runs until stopped) on a fresh SQLite database.
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}"}
    env.pop("REDIS_URL", None)
    out = subprocess.run(
        " && ".join(steps[:-1]),
        shell=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert "Loaded demo workspace TDEMO" in out.stdout
    for stage in ("prospecting", "qualification", "proposal", "negotiation", "total"):
        assert stage in out.stdout
    assert "Velocity" in out.stdout and "Win rate" in out.stdout
    assert re.search(r"K[\d,]+", out.stdout), "amounts in the company currency"
