"""A real Prometheus (Debian's 2.42, on loopback) scrapes a running loader and online consumer:
it sees the accepted count equal what was produced, the online consumer's freshness alert
fire once events stop arriving, and the process-down alert once the consumer stops.

The rules are alerts.yml's own expressions, with their `for` durations set to 0 so the test
does not wait minutes (promtool's unit tests cover the durations)."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest
import yaml

from tests.conftest import free_port
from tests.ops.support import wait_for
from tests.ops.test_alerts_and_dashboard import RULES
from tests.ops.test_observe import start, stop
from tests.support import event, produce

pytestmark = pytest.mark.slow


@pytest.fixture
def prometheus(tmp_path):
    """A function starting Prometheus on a free loopback port, scraping {job: port} every
    second; yields it, and the API's URL once started. Stopped after the test."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: `make test` installs it (scripts/ensure_promtool.sh)"
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            rule["for"] = "0s"
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    port = free_port()
    process: list[subprocess.Popen] = []

    def run(targets: dict[str, int]) -> str:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp_path / "rules.yml")],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{p}"]}]}
                for job, p in targets.items()
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        with open(tmp_path / "prometheus.log", "wb") as log:
            process.append(
                subprocess.Popen(
                    [
                        binary,
                        f"--config.file={tmp_path / 'prometheus.yml'}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        return f"http://127.0.0.1:{port}/api/v1"

    yield run
    for started in process:
        stop(started)


def api(base: str, path: str, **params: str) -> object:
    url = f"{base}/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


def query(base: str, expr: str) -> list[float]:
    return [float(r["value"][1]) for r in api(base, "query", query=expr)["result"]]


def firing(base: str, alertname: str) -> list[dict]:
    alerts = api(base, "alerts")["alerts"]
    return [
        a["labels"]
        for a in alerts
        if a["labels"]["alertname"] == alertname and a["state"] == "firing"
    ]


def test_prometheus_scrapes_the_count_and_fires_freshness_then_process_down(
    settings, tmp_path, prometheus
):
    produce(settings, [event(n, days_ago=0) for n in range(600)])  # event times: now - n s
    loader_port, online_port = free_port(), free_port()
    loader = start(settings, tmp_path, "load", port=loader_port)
    online = start(
        settings, tmp_path, "stream", "online", port=online_port, EVENTLAKE_ONLINE_BUDGET_SECONDS=5
    )
    try:
        base = prometheus({"eventlake-loader": loader_port, "eventlake-online": online_port})

        accepted = 'eventlake_loader_messages_total{job="eventlake-loader",outcome="accepted"}'
        wait_for(
            lambda: query(base, accepted) == [600.0],
            "Prometheus to scrape 600 accepted events from the loader",
        )
        labels = wait_for(
            lambda: firing(base, "EventlakeConsumerOverFreshnessBudget"),
            "the online consumer's freshness alert once events stop arriving",
        )
        assert [a["consumer"] for a in labels] == ["online"]
        assert query(base, 'eventlake_freshness_budget_seconds{consumer="online"}') == [5.0]
        assert firing(base, "EventlakeProcessDown") == []

        stop(online)
        down = wait_for(
            lambda: firing(base, "EventlakeProcessDown"),
            "the process-down alert once the online consumer stops",
        )
        assert [a["job"] for a in down] == ["eventlake-online"]
    finally:
        stop(loader)
        stop(online)
