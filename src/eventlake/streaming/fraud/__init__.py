"""The fraud store: per-user velocity windows over event time and the flags its rules raise."""

from eventlake.streaming.fraud.store import RULES, FraudStore

__all__ = ["RULES", "FraudStore"]
