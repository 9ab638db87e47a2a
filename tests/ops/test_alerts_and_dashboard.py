"""The alert rules and the Grafana dashboard: promtool unit-tests every rule, and every metric a
rule or a panel queries is one the processes export (names read from the code's registry)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from eventlake.dbt.runner import PROJECT_DIR
from eventlake.ops import metrics

RULES = PROJECT_DIR / "ops" / "prometheus" / "alerts.yml"
RULE_TESTS = PROJECT_DIR / "ops" / "prometheus" / "alerts.test.yml"
DASHBOARD = PROJECT_DIR / "ops" / "grafana" / "eventlake.json"

PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "on", "ignoring", "group_left",
    "group_right", "and", "or", "unless", "rate", "increase", "deriv", "delta", "time",
    "histogram_quantile", "le", "bool", "offset",
}  # fmt: skip
SCRAPE_METRICS = {"up"}
"""Prometheus's own per-target series."""


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make test` installs it (scripts/ensure_promtool.sh)"
    return found


def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    checked = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test_that_sees_it_fire():
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"] if "alert" in r}
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == fired
    assert len(alerts) >= 6


def metric_names_in(expr: str) -> set[str]:
    """Identifiers of a PromQL expression that name series: not functions, keywords, label
    names inside braces or by(...) lists, nor strings."""
    expr = re.sub(r'"[^"]*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # label lists
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhd]?", w)}


def exported() -> set[str]:
    return metrics.metric_names() | SCRAPE_METRICS


def test_every_metric_an_alert_queries_is_exported():
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            names = metric_names_in(rule["expr"])
            assert names, rule["alert"]
            assert names <= exported(), (rule["alert"], names - exported())


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())

    def walk(panels):
        for panel in panels:
            yield from (target["expr"] for target in panel.get("targets", []))
            yield from walk(panel.get("panels", []))

    return list(walk(dashboard["panels"]))


def test_the_dashboard_is_valid_json_with_a_row_per_consumer():
    dashboard = json.loads(DASHBOARD.read_text())
    rows = [p["title"].split(" ")[0] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows[:4] == ["online", "fraud", "analytics", "training"]
    assert len(dashboard_queries()) >= 20


def test_every_metric_the_dashboard_queries_is_exported():
    for query in dashboard_queries():
        names = metric_names_in(query)
        assert names, query
        assert names <= exported(), (query, names - exported())


@pytest.mark.parametrize(
    "expr, names",
    [
        ('sum by (le) (rate(a_bucket{x="y"}[5m]))', {"a_bucket"}),
        ("time() - max(b) > 3600", {"b"}),
        ("max by (consumer) (c) > on (consumer) max by (consumer) (d)", {"c", "d"}),
    ],
)
def test_the_metric_name_reader_finds_series_and_only_series(expr, names):
    assert metric_names_in(expr) == names
