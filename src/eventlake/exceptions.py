"""The one error family of eventlake: every message says what was expected and what came."""


class EventlakeError(Exception):
    """Base class of every error eventlake raises on purpose."""


class ConfigError(EventlakeError):
    """A configuration value is missing or malformed."""


class BrokerError(EventlakeError):
    """The local broker could not be started, stopped or reached."""


class LakeError(EventlakeError):
    """The lake holds something the loader cannot recover from."""


class ErasureError(EventlakeError):
    """An erasure request is malformed, or a store could not honour it."""


class StoreError(EventlakeError):
    """A streaming store (online, fraud) could not be opened, read or written."""
