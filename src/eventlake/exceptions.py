"""The one error family of eventlake: every message says what was expected and what came."""


class EventlakeError(Exception):
    """Base class of every error eventlake raises on purpose."""

    exit_code = 2
    """What the `eventlake` command exits with when this error ends it."""


class ConfigError(EventlakeError):
    """A configuration value is missing or malformed."""


class BrokerError(EventlakeError):
    """The local broker could not be started, stopped or reached."""


class LakeError(EventlakeError):
    """The lake holds something the loader cannot recover from."""


class UnreachableError(EventlakeError):
    """A service eventlake needs (Kafka, Redis, the catalog) did not answer within the bounded
    wait of a one-shot command. Nothing is wrong with the data or the command: exit 1, run it
    again once the service is back."""

    exit_code = 1

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message
        """Why, in the client's words (`Connection refused`), without the address."""


class LakeFullError(LakeError):
    """The lake's disk is full: a flush could not be written, so nothing of it was committed.
    Exit 1: free space and run the loader again; it resumes where the lake's checkpoints say."""

    exit_code = 1


class ErasureError(EventlakeError):
    """An erasure request is malformed, or a store could not honour it."""


class StoreError(EventlakeError):
    """A streaming store (online, fraud) could not be opened, read or written."""


class StoreUnreachableError(StoreError, UnreachableError):
    """A streaming store's server (the online store's Redis) did not answer: a following
    consumer waits for it and resumes from the store's offsets; a one-shot command exits 1."""
