"""`eventlake up`'s supervisor with stand-in children: stopped together, on a signal or a crash."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from eventlake.ops.supervisor import Child, Supervisor


def worker(name: str, log: Path, *, exit_after: float | None = None) -> Child:
    """A child that runs until SIGTERM/SIGINT (or exits 3 after exit_after s), then logs."""
    code = (
        "import signal, sys, time\n"
        "stopped = []\n"
        "for s in (signal.SIGTERM, signal.SIGINT):\n"
        "    signal.signal(s, lambda n, f: stopped.append(n))\n"
        "start = time.time()\n"
        "while not stopped:\n"
        f"    if {exit_after!r} is not None and time.time() - start > {exit_after!r}:\n"
        "        sys.exit(3)\n"
        "    time.sleep(0.02)\n"
        f"open({str(log)!r}, 'a').write('{name} stopped by ' + str(stopped[0]) + '\\n')\n"
    )
    return Child(name, (sys.executable, "-c", code))


def stopped(log: Path) -> list[str]:
    return sorted(log.read_text().splitlines()) if log.exists() else []


def test_a_stop_signal_reaches_every_child_and_up_waits_for_them(tmp_path):
    log = tmp_path / "log"
    supervisor = Supervisor([worker("loader", log), worker("online", log), worker("fraud", log)])
    threading.Timer(1.0, supervisor.stop, args=(signal.SIGINT,)).start()

    assert supervisor.run() == 0
    assert stopped(log) == [
        f"{name} stopped by {int(signal.SIGINT)}" for name in ("fraud", "loader", "online")
    ]


def test_when_one_child_dies_the_others_are_stopped_and_up_fails(tmp_path):
    log = tmp_path / "log"
    supervisor = Supervisor([worker("loader", log, exit_after=0.5), worker("online", log)])

    assert supervisor.run() == 1
    assert stopped(log) == [f"online stopped by {int(signal.SIGTERM)}"]
