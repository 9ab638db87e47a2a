"""What operating the pipeline needs: where metrics are served, each consumer's freshness budget.

The four consumers have four budgets (docs/architecture.md): personalization reads the online
store within seconds, fraud the fraud store within minutes, dashboards a 15-minute view of the
lakehouse and training a daily one. A budget is how old the newest visible event may be before
on-call is told; the defaults leave room for the pipeline's own steps (the loader's rotation,
a build's run time) so a healthy pipeline never pages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from eventlake.config import env_int
from eventlake.exceptions import ConfigError

CONSUMERS = ("online", "fraud", "analytics", "training")
"""The four consumers, as the `consumer` label of the freshness metrics names them."""

WARN_FRACTION = 0.8
"""A consumer past this share of its budget is WARN (ERROR past the whole budget)."""


@dataclass(frozen=True)
class OpsConfig:
    """Metrics endpoint and freshness budgets (seconds)."""

    metrics_port: int | None = None
    """EVENTLAKE_METRICS_PORT: serve Prometheus metrics on this port (all interfaces); none when
    unset. `--metrics-port` overrides it; 0 picks a free port (logged)."""
    online_budget_seconds: int = 60
    """EVENTLAKE_ONLINE_BUDGET_SECONDS: the online store runs seconds behind the topic."""
    fraud_budget_seconds: int = 300
    """EVENTLAKE_FRAUD_BUDGET_SECONDS: fraud decisions are minutes-fresh."""
    analytics_budget_seconds: int = 1800
    """EVENTLAKE_ANALYTICS_BUDGET_SECONDS: the 15-minute schedule, plus one build and the
    loader's rotation (EVENTLAKE_ROTATE_SECONDS) before the events are in a file a build reads."""
    training_budget_seconds: int = 2 * 86400
    """EVENTLAKE_TRAINING_BUDGET_SECONDS: training reads a daily lake: a day, plus a day's slack
    for a failed night."""

    def budgets(self) -> dict[str, int]:
        """consumer -> budget in seconds, in CONSUMERS order."""
        return {
            "online": self.online_budget_seconds,
            "fraud": self.fraud_budget_seconds,
            "analytics": self.analytics_budget_seconds,
            "training": self.training_budget_seconds,
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpsConfig:
        env = os.environ if env is None else env
        raw_port = env.get("EVENTLAKE_METRICS_PORT") or None
        port = None if raw_port is None else env_int(env, "EVENTLAKE_METRICS_PORT", 0)
        if port is not None and port > 65535:
            raise ConfigError(f"EVENTLAKE_METRICS_PORT must be a TCP port, got {port}")
        return cls(
            metrics_port=port,
            online_budget_seconds=_budget(env, "ONLINE", cls.online_budget_seconds),
            fraud_budget_seconds=_budget(env, "FRAUD", cls.fraud_budget_seconds),
            analytics_budget_seconds=_budget(env, "ANALYTICS", cls.analytics_budget_seconds),
            training_budget_seconds=_budget(env, "TRAINING", cls.training_budget_seconds),
        )


def _budget(env: Mapping[str, str], consumer: str, default: int) -> int:
    name = f"EVENTLAKE_{consumer}_BUDGET_SECONDS"
    value = env_int(env, name, default)
    if value == 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got 0")
    return value
