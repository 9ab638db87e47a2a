"""The one way this package runs dbt: which executable, which flags, from which folder.

Every job that runs the dbt project (the analytics schedule, retention, erasure, the tests and
the benchmarks) builds its command here. By default dbt reads profiles.yml and dbt_project.yml
from its working directory (``DBT_FLAGS``), so a job runs it from the project's root
(``PROJECT_DIR`` in a checkout) or from a copy of the project.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from eventlake.exceptions import ConfigError

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[3]
"""The dbt project (dbt_project.yml, profiles.yml, macros/) of this checkout: the repository
root, three folders above src/eventlake/dbt/."""
DBT_FLAGS = ("--profiles-dir", ".", "--project-dir", ".")
"""profiles.yml and the project in the working directory."""
BUILD_NICENESS = 10
"""The scheduled build's CPU priority (nice(1); EVENTLAKE_BUILD_NICENESS): below the readers'
on a shared host, so a dashboard's query does not wait behind the build's threads for a core."""
PRODUCTION_BUILD = ("build", "--exclude-resource-type", "unit_test")
"""A production build (the schedule, an erasure pass): every seed, model, snapshot and data
test, not dbt's unit tests. Their inputs are fixed in the project, so every build would answer
them the same; they run in development and CI (`make test-fast`, tests/dbt/test_unit_tests.py),
as dbt's documentation advises."""


def dbt_executable() -> str:
    """dbt of this environment (next to the running Python), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.is_file():
        return str(beside)
    found = shutil.which("dbt")
    if found is None:
        raise ConfigError(f"expected dbt next to {sys.executable} or on PATH, found neither")
    return found


def dbt_command(
    *args: str, target: str | None = None, project_dir: Path | None = None, niceness: int = 0
) -> tuple[str, ...]:
    """argv of `dbt <args>`: the project in the working directory, or in `project_dir` when
    given (then any working directory will do); on `target` (a profiles.yml output) when given,
    else the profile's default; at `niceness` (nice(1), which execs dbt: signals reach it)."""
    flags = (
        DBT_FLAGS
        if project_dir is None
        else ("--profiles-dir", str(project_dir), "--project-dir", str(project_dir))
    )
    command = (dbt_executable(), *args, *flags)
    if target is not None:
        command = (*command, "--target", target)
    return ("nice", "-n", str(niceness), *command) if niceness else command


def run_dbt(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    target: str | None = None,
    project_dir: Path | None = None,
    capture: bool = True,
    timeout: float | None = None,
    niceness: int = 0,
) -> subprocess.CompletedProcess[str]:
    """Run `dbt <args>` from `cwd` (the current directory when None) with `env` on top of this
    process's environment, at `niceness`; returns the finished process (its output as text when
    `capture`). Never raises on dbt's exit code: the caller reads `returncode`."""
    argv = dbt_command(*args, target=target, project_dir=project_dir, niceness=niceness)
    log.info("dbt %s%s", " ".join(args[:2]), f" (target {target})" if target else "")
    return subprocess.run(
        argv,
        cwd=cwd,
        env=dict(os.environ, **env) if env is not None else None,
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )


def build_command(select: Sequence[str] = (), niceness: int = 0) -> tuple[str, ...]:
    """The production build (PRODUCTION_BUILD) of the whole project, or of the `--select`
    selection, at `niceness`."""
    command = dbt_command(*PRODUCTION_BUILD, niceness=niceness)
    return (*command, "--select", *select) if select else command
