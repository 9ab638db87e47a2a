"""`eventlake up`'s one endpoint: the parent scrapes each child's metrics and re-exports them with
a `child` label; a child that stops answering shows as eventlake_child_up 0."""

from __future__ import annotations

import sys
import threading

import pytest

from eventlake.ops import metrics
from eventlake.ops.federate import children_registry, free_ports
from eventlake.ops.supervisor import Child, Supervisor, with_metrics_ports
from tests.conftest import free_port
from tests.dbt_support import dbt_target
from tests.ops.support import matching, scrape, value, wait_for


def child(name: str, files: int) -> Child:
    """A stand-in child serving the real metrics module on EVENTLAKE_METRICS_PORT."""
    code = (
        "import os, signal, time\n"
        "from eventlake.ops import metrics\n"
        "metrics.serve(int(os.environ['EVENTLAKE_METRICS_PORT']), addr='127.0.0.1')\n"
        f"metrics.LOADER_FILES.inc({files})\n"
        f"metrics.DLQ_MESSAGES.labels('{name}.decode', 'invalid_json').inc(2)\n"
        "stopped = []\n"
        "signal.signal(signal.SIGTERM, lambda *a: stopped.append(1))\n"
        "while not stopped:\n"
        "    time.sleep(0.05)\n"
    )
    return Child(name, (sys.executable, "-c", code))


def test_up_serves_every_childs_metrics_on_one_endpoint_labelled_by_child():
    children, urls = with_metrics_ports([child("loader", 7), child("online", 0)], free_ports(2))
    assert {c.env["EVENTLAKE_METRICS_PORT"] for c in children} == {
        u.rsplit(":", 1)[1].split("/")[0] for u in urls.values()
    }
    port = metrics.serve(0, children_registry(urls), addr="127.0.0.1")
    url = f"http://127.0.0.1:{port}/metrics"
    supervisor = Supervisor(children, grace_seconds=10)
    runner = threading.Thread(target=supervisor.run)
    runner.start()
    try:
        samples = wait_for(
            lambda: (
                (s := scrape(url))
                and value(s, "eventlake_child_up", child="loader") == 1
                and value(s, "eventlake_child_up", child="online") == 1
                and s
            ),
            "both children to answer",
        )
        assert value(samples, "eventlake_loader_files_written_total", child="loader") == 7
        assert value(samples, "eventlake_loader_files_written_total", child="online") == 0
        dlq = matching(samples, "eventlake_dlq_messages_total", reason="invalid_json")
        assert {dict(k)["child"]: v for k, v in dlq.items()} == {"loader": 2, "online": 2}
    finally:
        supervisor.stop()
        runner.join()
    after = scrape(url)
    assert value(after, "eventlake_child_up", child="loader") == 0
    assert value(after, "eventlake_child_up", child="online") == 0


@pytest.mark.slow
def test_eventlake_up_serves_its_four_children_on_the_one_metrics_port(settings, tmp_path):
    from tests.ops.test_observe import start, stop

    port = free_port()
    up = start(
        settings,
        tmp_path,
        "up",
        "--every",
        "1h",
        port=port,
        EVENTLAKE_CATALOG=settings.catalog,
        DBT_TARGET_PATH=dbt_target(tmp_path),
        DBT_LOG_PATH=tmp_path / "logs",
    )
    url = f"http://127.0.0.1:{port}/metrics"
    # A stream consumer serves its metrics before its store opens (so one waiting for its Redis
    # exports eventlake_up 0), and its freshness once the store is open: wait for both.
    expected_budgets = {
        ("online", "online"),
        ("fraud", "fraud"),
        ("analytics", "analytics"),
        ("analytics", "training"),
    }

    def budgets(samples: dict) -> set[tuple[str, str]]:
        found = matching(samples, "eventlake_freshness_budget_seconds")
        return {(dict(k)["child"], dict(k)["consumer"]) for k in found}

    try:
        samples = wait_for(
            lambda: (
                (s := scrape(url))
                and all(
                    value(s, "eventlake_child_up", child=c) == 1
                    for c in ("loader", "online", "fraud", "analytics")
                )
                and budgets(s) >= expected_budgets
                and s
            ),
            "the four children of `eventlake up` to answer on its port",
        )
    finally:
        stop(up)
    accepted = matching(samples, "eventlake_loader_messages_total", outcome="accepted")
    assert {dict(k)["child"] for k in accepted} >= {"loader"}
    assert budgets(samples) == expected_budgets
