"""The processes' metrics, scraped over HTTP from real processes on the real broker: the loader's
counters against the ground truth of what was produced, its lag, a stream consumer's freshness
and event-to-visible histogram."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

import duckdb
import pytest

from eventlake.erasure.subjects import subject_hash
from eventlake.erasure.suppression import publish
from eventlake.ingest.loader import Loader
from eventlake.lake.layout import RAW_EVENTS
from eventlake.ops import metrics
from eventlake.ops.lag import group_lag
from eventlake.ops.observe import LoaderObserver
from tests.conftest import free_port
from tests.dbt_support import dbt_target
from tests.ops.support import matching, scrape, value, wait_for
from tests.support import event, events, loader_env, produce

LAG = "eventlake_consumer_lag_messages"

POISON = {
    "invalid_json": (b"u", b'{"event_id": "x", '),
    "missing_key": (None, event(10_003)[1]),
    "not_an_object": (b"u", b"[1, 2, 3]"),
    "future_timestamp": event(10_002, event_time="2999-01-01T00:00:00Z"),
}
"""Two of each reason code are produced."""


def test_loader_counters_match_what_was_produced_by_outcome_and_reason(settings, loader_config):
    valid = events(2_000)
    erased_user = "user-5"  # events() cycles 997 users: user-5 has 3 of the 2,000
    erased = sum(1 for key, _ in valid if key == erased_user.encode())
    publish(settings.lake_dir, [subject_hash(erased_user, settings.subject_hash_key)], now())
    produce(settings, valid + list(POISON.values()) * 2)
    port = metrics.serve(0, addr="127.0.0.1")
    url = f"http://127.0.0.1:{port}/metrics"
    before = scrape(url)

    loader = Loader(settings, loader_config)
    LoaderObserver(loader)
    loader.run(once=True)
    after = scrape(url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert erased == 3
    assert delta("eventlake_loader_messages_total", outcome="accepted") == 2_000 - erased
    assert delta("eventlake_loader_messages_total", outcome="rejected") == 2 * len(POISON)
    assert delta("eventlake_loader_messages_total", outcome="suppressed") == erased
    for reason in POISON:
        assert delta("eventlake_dlq_messages_total", stage="loader.decode", reason=reason) == 2
    files = sorted((settings.lake_dir / RAW_EVENTS).rglob("*.parquet"))
    assert delta("eventlake_loader_files_written_total") == len(files)
    assert delta("eventlake_loader_bytes_total") == sum(f.stat().st_size for f in files)
    landed = duckdb.sql(f"select count(*) from read_parquet({[str(f) for f in files]})")
    assert landed.fetchone()[0] == 2_000 - erased
    assert delta("eventlake_loader_flush_duration_seconds_count") >= 1


def now() -> datetime:
    return datetime.now(UTC)


def lag_of(settings, group: str) -> int:
    return sum(p.messages for p in group_lag(settings.bootstrap_servers, group, settings.topic))


@pytest.mark.slow
def test_lag_grows_while_the_loader_is_stopped_and_is_zero_once_it_drained(settings, loader_config):
    produce(settings, events(300))
    assert lag_of(settings, settings.group_id) == 300  # no loader has run yet

    Loader(settings, loader_config).run(once=True)
    assert lag_of(settings, settings.group_id) == 0

    produce(settings, events(200, start=300))
    assert lag_of(settings, settings.group_id) == 200  # stopped: the backlog grows

    Loader(settings, loader_config).run(once=True)
    assert lag_of(settings, settings.group_id) == 0


def start(settings, tmp_path, *args: str, port: int, **overrides: object) -> subprocess.Popen:
    """`eventlake <args>` on the test's topics and stores, serving metrics on `port`."""
    env = loader_env(
        settings,
        EVENTLAKE_METRICS_PORT=port,
        EVENTLAKE_ROTATE_SECONDS=1,
        EVENTLAKE_ONLINE_PATH=tmp_path / "online.sqlite",
        EVENTLAKE_FRAUD_PATH=tmp_path / "fraud.sqlite",
        EVENTLAKE_ONLINE_GROUP_ID=f"online-{settings.topic}",
        EVENTLAKE_ERASURE_TOPIC=f"{settings.topic}-erasure",
        EVENTLAKE_CONFIRMATION_TOPIC=f"{settings.topic}-confirmations",
        **overrides,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "eventlake.cli", *args], env=env, stderr=subprocess.DEVNULL
    )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_a_following_loader_serves_accepted_equal_to_produced_and_lag_back_to_zero(
    settings, tmp_path
):
    produce(settings, events(1_500))
    port = free_port()
    loader = start(settings, tmp_path, "load", port=port)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        accepted = wait_for(
            lambda: (
                value(scrape(url), "eventlake_loader_messages_total", outcome="accepted") == 1_500
            ),
            "the loader to land 1,500 events",
        )
        assert accepted
        lags = wait_for(
            lambda: (lag := matching(scrape(url), "eventlake_consumer_lag_messages")) and lag,
            "the loader's lag per partition",
        )
        assert {dict(k)["partition"] for k in lags} == {"0", "1", "2", "3"}
        assert {dict(k)["group"] for k in lags} == {settings.group_id}
        assert set(lags.values()) == {0.0}
    finally:
        stop(loader)
    assert loader.returncode == 0


@pytest.mark.slow
def test_the_online_consumer_serves_freshness_and_event_to_visible_per_event(settings, tmp_path):
    messages = events(900)
    produce(settings, messages)
    newest_event = max(  # events() are 1 to 3 days old, one second apart
        datetime.fromisoformat(v.split(b'"event_time":"')[1].split(b'"')[0].decode())
        for _, v in messages
    ).timestamp()
    port = free_port()
    consumer = start(settings, tmp_path, "stream", "online", port=port)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        samples = wait_for(
            lambda: (
                (s := scrape(url))
                and value(s, "eventlake_stream_messages_total", consumer="online", outcome="folded")
                == 900
                and set(
                    matching(s, "eventlake_consumer_lag_messages", topic=settings.topic).values()
                )
                == {0.0}
                and s
            ),
            "the online consumer to fold 900 events and report no lag",
        )
        scraped_at = time.time()
    finally:
        stop(consumer)
    freshness = value(samples, "eventlake_freshness_seconds", consumer="online")
    assert 0 < scraped_at - newest_event - freshness < 120  # now minus the newest event time
    assert value(samples, "eventlake_freshness_budget_seconds", consumer="online") == 60
    assert value(samples, "eventlake_online_event_to_visible_seconds_count") == 900
    old = value(samples, "eventlake_online_event_to_visible_seconds_bucket", le="86400.0")
    assert old == 0  # every event is over a day old when it becomes visible
    lag = matching(samples, LAG, topic=settings.topic)
    assert set(lag.values()) == {0.0}


def dbt_stand_in(statuses: list[str], code: int) -> list[str]:
    """A command that writes dbt's run_results.json with these node statuses and exits `code`."""
    results = [{"unique_id": f"model.x.m{i}", "status": s} for i, s in enumerate(statuses)]
    return [
        sys.executable,
        "-c",
        "import json, os, sys; os.makedirs('target', exist_ok=True); "
        f"json.dump({{'results': {results!r}}}, open('target/run_results.json', 'w')); "
        f"sys.exit({code})",
    ]


def test_a_scheduled_build_sets_outcome_duration_last_success_and_failed_nodes(tmp_path, request):
    from prometheus_client import REGISTRY

    from eventlake.config import Settings
    from eventlake.ops.config import OpsConfig
    from eventlake.ops.observe import ScheduleObserver
    from eventlake.ops.schedule import run_schedule

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    settings = Settings(lake_dir=tmp_path / "lake", catalog=f"sqlite:{tmp_path / 'c.sqlite'}")
    observer = ScheduleObserver(settings, OpsConfig().budgets(), cwd=tmp_path, refresh=3600)
    request.addfinalizer(observer.close)
    failures = sample("eventlake_builds_total", outcome="failure")
    runs = sample("eventlake_build_duration_seconds_count")

    status = run_schedule(
        dbt_stand_in(["success", "error", "fail", "pass"], 1),
        60,
        once=True,
        cwd=tmp_path,
        handle_signals=False,
        on_run=observer.ran,
    )
    assert status == 1
    assert sample("eventlake_builds_total", outcome="failure") == failures + 1
    assert sample("eventlake_build_failed_nodes") == 2
    started = time.time()

    run_schedule(
        dbt_stand_in(["success", "pass"], 0),
        60,
        once=True,
        cwd=tmp_path,
        handle_signals=False,
        on_run=observer.ran,
    )
    assert sample("eventlake_build_failed_nodes") == 0
    assert sample("eventlake_build_last_success_timestamp_seconds") >= started
    assert sample("eventlake_build_duration_seconds_count") == runs + 2


def test_the_erasure_schedule_serves_its_passes_and_the_open_requests(
    erasure_settings, loader_config, tmp_path
):
    """`eventlake erasure process --every`: each pass is counted by outcome, the open requests
    come from the control plane after it, and the freshness gauges stay with run-analytics."""
    import signal

    from eventlake.erasure.subjects import ErasureRequest
    from eventlake.erasure.topics import ensure_erasure_topics, publish_requests
    from eventlake.ingest.loader import Loader
    from tests.dbt_support import dbt

    settings = erasure_settings
    produce(settings, [event(n, days_ago=1, user_id=f"user-{n % 7}") for n in range(300)])
    Loader(settings, loader_config).run(once=True)
    dbt(settings.lake_dir, settings.catalog, "build")
    ensure_erasure_topics(settings)
    publish_requests(settings, [ErasureRequest("er-scheduled-1", "user-3", datetime.now(UTC))])
    port = free_port()
    env = loader_env(
        settings,
        EVENTLAKE_CATALOG=settings.catalog,
        EVENTLAKE_ERASURE_TOPIC=settings.erasure_topic,
        EVENTLAKE_CONFIRMATION_TOPIC=settings.confirmation_topic,
        EVENTLAKE_SUBJECT_HASH_KEY=settings.subject_hash_key,
        DBT_TARGET_PATH=dbt_target(tmp_path),
        DBT_LOG_PATH=tmp_path / "logs",
    )
    schedule = subprocess.Popen(
        [sys.executable, "-m", "eventlake.cli", "erasure", "process", "--no-build"]
        + ["--every", "1h", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        passed = wait_for(
            lambda: (
                value(s := scrape(url), "eventlake_erasure_passes_total", outcome="success")
                and value(s, "eventlake_erasure_requests_open") >= 1
                and s
            ),
            "a successful pass and its open request",
            timeout=300,
        )
        assert schedule.poll() is None, "the schedule keeps running between passes"
    finally:
        schedule.send_signal(signal.SIGTERM)
        output = schedule.communicate(timeout=60)[0]

    assert schedule.returncode == 0, output
    assert value(passed, "eventlake_erasure_passes_total", outcome="failure") == 0
    assert value(passed, "eventlake_erasure_pass_duration_seconds_count") == 1
    assert value(passed, "eventlake_erasure_last_success_timestamp_seconds") > 0
    # Erased from the lake and the models, the request waits for the streaming stores'
    # confirmations: open, not overdue.
    assert value(passed, "eventlake_erasure_requests_open") == 1
    assert value(passed, "eventlake_erasure_requests_overdue") == 0
    assert value(passed, "eventlake_up", dependency="catalog") == 1
    assert matching(passed, "eventlake_freshness_seconds") == {}
    assert "1 erased" in output, output
