"""Where the lake lives: a local folder (the default) or an S3-compatible bucket.

`EVENTLAKE_LAKE_DIR` is a path (`lake`, `/srv/eventlake/lake`) or a URI `s3://bucket/prefix`.
A bucket is reached with the standard variables: `AWS_ENDPOINT_URL` (an S3-compatible server;
unset for AWS itself), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`. With an
endpoint, objects are addressed path-style (`http://host:port/bucket/key`), which every
S3-compatible server speaks.

`lake_storage(lake_dir)` gives the rest of the code one object with:
- `fs`, a pyarrow filesystem rooted at the lake (paths relative to it, `/`-separated), and
  `uri(relative)`, the same object as DuckDB and pyarrow's dataset readers name it;
- `publish_parquet` / `put_bytes` / `staged_file`: the only ways the lake is written. A local
  file is written to a hidden temporary name, fsynced and renamed; an object is PUT under its
  final name, since an S3 PUT (and a multipart upload's completion) is atomic: readers see the
  whole object or none, and a bucket has no rename (`staged_file` stages it locally first, for
  a writer that checks what it wrote before anyone may read it);
- `configure(connection)`: a DuckDB connection made able to read and write the lake (httpfs and
  a `CREATE SECRET (TYPE s3, ...)` scoped to the bucket; nothing for a folder). The DuckDB CLI's
  init script (`eventlake sql --print-init`) holds no credential: its secret reads them with
  `getenv()` (`secret_sql(from_env=True)`).

So call sites do not branch on local against bucket; the few behaviours that differ (fsync,
temporary names) live here.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from eventlake.exceptions import ConfigError

S3_SCHEME = "s3://"
TMP_SUFFIX = ".tmp"
SECRET_NAME = "eventlake_lake"


def is_remote(lake_dir: Path | str) -> bool:
    """True for `s3://bucket/prefix`."""
    return str(lake_dir).startswith(S3_SCHEME)


def lake_dir_from_env(value: str) -> Path | str:
    """A local lake as a Path, a bucket as its URI string (a Path would fold `s3://` to `s3:/`)."""
    if is_remote(value):
        bucket = urlparse(value).netloc
        if not bucket:
            raise ConfigError(f"EVENTLAKE_LAKE_DIR must be s3://bucket[/prefix], got {value!r}")
        return value.rstrip("/")
    return Path(value)


@dataclass(frozen=True)
class S3Settings:
    """How to reach the bucket: the standard AWS variables, read once."""

    endpoint_url: str | None
    """AWS_ENDPOINT_URL: http(s)://host:port of an S3-compatible server; None for AWS."""
    access_key: str | None
    """AWS_ACCESS_KEY_ID."""
    secret_key: str | None
    """AWS_SECRET_ACCESS_KEY."""
    region: str
    """AWS_REGION (or AWS_DEFAULT_REGION); us-east-1 when neither is set."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Settings:
        env = os.environ if env is None else env
        return cls(
            endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            access_key=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        )

    @property
    def scheme(self) -> str:
        return urlparse(self.endpoint_url).scheme if self.endpoint_url else "https"

    @property
    def endpoint(self) -> str | None:
        """host:port of the endpoint, as pyarrow's endpoint_override and DuckDB's ENDPOINT
        want it."""
        return urlparse(self.endpoint_url).netloc if self.endpoint_url else None

    def filesystem(self, *, admin: bool = False) -> pafs.S3FileSystem:
        """pyarrow's S3 client; admin may create and delete buckets (the tests' fixtures)."""
        return pafs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            endpoint_override=self.endpoint,
            scheme=self.scheme,
            force_virtual_addressing=False,
            # An object is created at close: one PutObject for a small one instead of a
            # multipart upload's three requests (measured: 2.5x quicker per object on moto).
            allow_delayed_open=True,
            allow_bucket_creation=admin,
            allow_bucket_deletion=admin,
        )

    def secret_sql(self, scope: str, *, from_env: bool = False) -> str:
        """DuckDB's S3 secret for `scope` (s3://bucket): path-style, TLS as the endpoint says.
        With `from_env`, the statement holds no credential: it reads AWS_ACCESS_KEY_ID and
        AWS_SECRET_ACCESS_KEY with `getenv()` when it runs, which only the DuckDB CLI has (a
        script shown to a person, or written to a file)."""
        options = ["TYPE s3", f"REGION '{_escape(self.region)}'", f"SCOPE '{_escape(scope)}'"]
        if self.access_key:
            key_id = "getenv('AWS_ACCESS_KEY_ID')" if from_env else f"'{_escape(self.access_key)}'"
            options.append(f"KEY_ID {key_id}")
        if self.secret_key:
            secret = (
                "getenv('AWS_SECRET_ACCESS_KEY')" if from_env else f"'{_escape(self.secret_key)}'"
            )
            options.append(f"SECRET {secret}")
        if self.endpoint:
            options.append(f"ENDPOINT '{_escape(self.endpoint)}'")
            options.append("URL_STYLE 'path'")
            options.append(f"USE_SSL {'true' if self.scheme == 'https' else 'false'}")
        return f"CREATE OR REPLACE SECRET {SECRET_NAME} ({', '.join(options)})"


class LakeStorage:
    """The lake's root on a filesystem: relative paths in, objects or files out."""

    def __init__(self, lake_dir: Path | str, env: Mapping[str, str] | None = None) -> None:
        self.lake_dir = lake_dir
        self.remote = is_remote(lake_dir)
        if self.remote:
            parsed = urlparse(str(lake_dir))
            self.bucket = parsed.netloc
            self.root = f"{parsed.netloc}{parsed.path}".rstrip("/")
            self.s3: S3Settings | None = S3Settings.from_env(env)
            self.base: pafs.FileSystem = self.s3.filesystem()
            self.root_uri = f"{S3_SCHEME}{self.root}"
        else:
            self.bucket = None
            self.s3 = None
            self.root = str(Path(lake_dir).absolute())
            self.base = pafs.LocalFileSystem()
            self.root_uri = str(lake_dir).rstrip("/") or "."
        self.fs = pafs.SubTreeFileSystem(self.root, self.base)

    # -- naming ---------------------------------------------------------------------------------

    def uri(self, relative: str | Path = "") -> str:
        """The lake path as DuckDB names it: `s3://bucket/prefix/rel` or `<lake_dir>/rel`."""
        relative = str(relative).strip("/")
        return f"{self.root_uri}/{relative}" if relative else self.root_uri

    def local_path(self, relative: str | Path = "") -> Path:
        """The local file of a relative path; only for a folder lake (flock, fsync)."""
        if self.remote:
            raise ConfigError(f"{self.lake_dir} is a bucket: it has no local path")
        return Path(self.lake_dir) / str(relative)

    # -- reading --------------------------------------------------------------------------------

    def exists(self, relative: str) -> bool:
        return self.fs.get_file_info(relative).type != pafs.FileType.NotFound

    def get_bytes(self, relative: str) -> bytes | None:
        """The object's bytes; None when it does not exist."""
        try:
            with self.fs.open_input_stream(relative) as source:
                return source.read()
        except FileNotFoundError:
            return None

    def list_files(
        self, relative: str, *, suffix: str | tuple[str, ...] = "", hidden: bool = False
    ) -> list[pafs.FileInfo]:
        """Every file under `relative` (recursively) whose name ends with suffix, hidden ones
        (`.name`: a write under way on disk) only when asked; paths in the answer are relative
        to the lake. Nothing when the folder does not exist."""
        selector = pafs.FileSelector(relative.strip("/"), recursive=True, allow_not_found=True)
        return sorted(
            (
                info
                for info in self.fs.get_file_info(selector)
                if info.type == pafs.FileType.File
                and info.path.endswith(suffix)
                and (hidden or not info.base_name.startswith("."))
            ),
            key=lambda info: info.path,
        )

    # -- writing --------------------------------------------------------------------------------

    def put_bytes(self, relative: str, data: bytes) -> None:
        """Replace the file or object atomically (one PUT; temp + fsync + rename locally)."""
        with self._publishing(relative) as target:
            with self.fs.open_output_stream(target) as sink:
                sink.write(data)
            self._fsync(target)

    def publish_parquet(self, relative: str, table: pa.Table, **write_options: object) -> int:
        """Write a Parquet file under its final name, all or nothing; returns its size."""
        with self._publishing(relative) as target:
            with self.fs.open_output_stream(target) as sink:
                pq.write_table(table, sink, **write_options)
                size = sink.tell()  # no HEAD afterwards
            self._fsync(target)
        return size

    @contextlib.contextmanager
    def staged_file(self, relative: str) -> Iterator[Path]:
        """A local file to write `relative` into and check, published when the block ends.

        On disk it is the hidden temporary name beside the final one, fsynced and renamed (and
        the folder fsynced). On a bucket it is a file of the temporary folder, uploaded under
        the final name in one call, since an object written straight to its key is published
        even when the block raises (pyarrow's stream completes the upload when it closes): the
        check must come before any byte reaches the bucket. If the upload itself fails, what
        it left is deleted. Nothing is published when the block raises; the file is removed.
        """
        if not self.remote:
            parent, _, name = relative.rpartition("/")
            staged = self.local_path(parent) / f".{name}{TMP_SUFFIX}"
            staged.parent.mkdir(parents=True, exist_ok=True)
        else:
            handle, name = tempfile.mkstemp(prefix="eventlake-", suffix=f"-{Path(relative).name}")
            os.close(handle)
            staged = Path(name)
        try:
            yield staged
            if not self.remote:
                with open(staged, "rb+") as written:
                    os.fsync(written.fileno())
                os.replace(staged, self.local_path(relative))
                self.sync_dir(parent)
                return
            try:
                pafs.copy_files(
                    str(staged),
                    relative,
                    source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=self.fs,
                )
            except BaseException:
                self.delete(relative)
                raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()

    def delete(self, relative: str) -> bool:
        """Remove a file or object; False when it was not there."""
        try:
            self.fs.delete_file(relative)
        except FileNotFoundError:
            return False
        return True

    def sync_dir(self, relative: str) -> None:
        """fsync a folder so a rename in it survives a power cut; nothing to do on a bucket."""
        if self.remote:
            return
        fd = os.open(self.local_path(relative), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _publishing(self, relative: str) -> Iterator[str]:
        """Yield where to write: the final key on a bucket, a hidden temporary name locally
        (renamed over the final name once the block ends)."""
        if self.remote:
            yield relative
            return
        parent, _, name = relative.rpartition("/")
        self.fs.create_dir(parent or ".", recursive=True)
        tmp = f"{parent}/.{name}{TMP_SUFFIX}" if parent else f".{name}{TMP_SUFFIX}"
        try:
            yield tmp
        except BaseException:
            # A write that failed (a full disk) leaves no half file behind to hold its room.
            with contextlib.suppress(OSError):
                self.fs.delete_file(tmp)
            raise
        self.fs.move(tmp, relative)

    def _fsync(self, relative: str) -> None:
        if self.remote:
            return
        with open(self.local_path(relative), "rb+") as written:
            os.fsync(written.fileno())

    # -- DuckDB ---------------------------------------------------------------------------------

    def secret_sql(self, *, from_env: bool = False) -> str | None:
        """The DuckDB secret that reaches the bucket; None for a folder. With `from_env`, the
        DuckDB CLI reads the credentials from the environment when it runs the statement."""
        if self.s3 is None:
            return None
        return self.s3.secret_sql(f"{S3_SCHEME}{self.bucket}", from_env=from_env)

    def configure(self, connection) -> None:
        """Make a DuckDB connection able to read and write the lake (httpfs + secret)."""
        statement = self.secret_sql()
        if statement is None:
            return
        connection.execute("load httpfs")
        connection.execute(statement)


@functools.lru_cache(maxsize=16)
def _cached(lake_dir: str, remote: bool) -> LakeStorage:
    return LakeStorage(lake_dir if remote else Path(lake_dir))


def lake_storage(lake_dir: Path | str) -> LakeStorage:
    """The storage of a lake (one per lake and process: pyarrow's S3 client is reused)."""
    return _cached(str(lake_dir), is_remote(lake_dir))


def _escape(text: str) -> str:
    return text.replace("'", "''")
