"""dbt's unit tests, once per suite. Production builds leave them out (runner.PRODUCTION_BUILD),
and so do the other tests' builds, so this is where a change that breaks a model's logic fails
`make test`: every unit test of the project runs, on an empty build of its models' parents, as
`make test-fast` runs them."""

from __future__ import annotations

import json
from pathlib import Path

from eventlake.dbt.runner import run_dbt
from tests.dbt_support import REPO, lake_env


def test_every_unit_test_of_the_project_runs_and_passes(tmp_path: Path) -> None:
    env = lake_env(tmp_path / "lake", f"sqlite:{tmp_path / 'lakehouse.sqlite'}")
    del env["DBT_EXCLUDE_RESOURCE_TYPES"]
    selection = ("--select", "+test_type:unit", "--exclude", "test_type:data")

    done = run_dbt("build", "--empty", *selection, cwd=REPO, env=env, timeout=600)

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    target = Path(env["DBT_TARGET_PATH"])
    manifest = json.loads((target / "manifest.json").read_text())
    results = json.loads((target / "run_results.json").read_text())["results"]
    ran = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert len(manifest["unit_tests"]) >= 10
    assert ran == dict.fromkeys(manifest["unit_tests"], "pass")
