"""Who is erased: validated requests and the keyed subject hash that names them on disk."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from eventlake.dbt.runner import PROJECT_DIR
from eventlake.exceptions import ErasureError
from eventlake.ingest.contract import load_contract

REQUEST_ID_MACRO = PROJECT_DIR / "macros" / "privacy" / "request_id_pattern.sql"
"""The one definition of a valid request id, shared with the dbt macros that check ids."""


def read_request_id_pattern(macro: Path = REQUEST_ID_MACRO) -> re.Pattern[str]:
    """The pattern macro request_id_pattern() returns, without its anchors (for fullmatch)."""
    found = re.search(r"return\('([^']+)'\)", macro.read_text("utf-8"))
    if found is None:
        raise ErasureError(f"expected {macro} to return the request id pattern as a string")
    return re.compile(found[1].removeprefix("^").removesuffix("$"))


REQUEST_ID_PATTERN = read_request_id_pattern()
"""Request ids: letters, digits and ._:- (at most 128), as dbt's erasure macros check them."""


def json_object(value: bytes | None, what: str) -> dict:
    """A message value as a JSON object, or ErasureError saying what was wrong with it."""
    try:
        document = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError):
        raise ErasureError(f"malformed {what}: the value is not JSON") from None
    if not isinstance(document, dict):
        raise ErasureError(f"malformed {what}: expected a JSON object")
    return document


def user_id_pattern() -> re.Pattern[str]:
    """The contract's user_id pattern: every id the lake can hold, and nothing else."""
    return re.compile(load_contract().patterns["user_id"].strip("^$"))


def subject_hash(user_id: str, key: str) -> str:
    """Hex SHA-256 of key || user_id, equal to dbt's subject_hash() macro."""
    return hashlib.sha256((key + user_id).encode("utf-8")).hexdigest()


def subject_hash_sql(column: str, key: str = "$key") -> str:
    """DuckDB SQL of subject_hash over `column`, the key a bound parameter (`$key` unless
    named): what dbt's duckdb__subject_hash() computes."""
    return f"sha256({key} || {column})"


@dataclass(frozen=True)
class ErasureRequest:
    """One right-to-erasure request as it rides the erasure-requests topic."""

    request_id: str
    user_id: str
    requested_at: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.request_id, str) or not REQUEST_ID_PATTERN.fullmatch(
            self.request_id
        ):
            raise ErasureError(
                f"invalid request_id {str(self.request_id)[:40]!r}: expected "
                f"{REQUEST_ID_PATTERN.pattern}"
            )
        if not isinstance(self.user_id, str) or not user_id_pattern().fullmatch(self.user_id):
            # The id itself is not echoed: it may be personal data or a payload.
            raise ErasureError(
                f"request {self.request_id}: invalid user_id (expected the contract's "
                f"pattern {user_id_pattern().pattern})"
            )
        if self.requested_at.tzinfo is None:
            raise ErasureError(f"request {self.request_id}: requested_at needs a time zone")

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "request_id": self.request_id,
                "user_id": self.user_id,
                "requested_at": self.requested_at.astimezone(UTC).isoformat(),
            }
        ).encode("utf-8")

    @classmethod
    def from_json(cls, value: bytes | None) -> ErasureRequest:
        """Parse a message value; anything malformed raises ErasureError with the reason."""
        document = json_object(value, "request")
        missing = {"request_id", "user_id", "requested_at"} - document.keys()
        if missing:
            raise ErasureError(f"malformed request: missing {', '.join(sorted(missing))}")
        try:
            requested_at = datetime.fromisoformat(str(document["requested_at"]))
        except ValueError:
            raise ErasureError("malformed request: requested_at is not an ISO timestamp") from None
        return cls(str(document["request_id"]), document["user_id"], requested_at)
