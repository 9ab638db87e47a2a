"""moto's S3 server with a request counter in front: what a benchmark on a bucket made.

    .venv/bin/python scripts/s3_counting_server.py --port 5555

Every request is counted by kind (LIST, GET, HEAD, PUT, POST, DELETE) with the bytes it sent
and received. `GET /_counts` answers the counts as JSON; `POST /_counts` answers them and starts
over. The counter runs in moto's own process, so counting costs the benchmarked one nothing.
Kinds: a GET with `list-type` or without a key is LIST; PUT includes a multipart upload's
parts, POST its start and completion (and DeleteObjects).
"""

from __future__ import annotations

import argparse
import json
import threading
from collections import Counter

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

COUNTS_PATH = "/_counts"


class Counting:
    """WSGI middleware: counts each request and its bytes by kind."""

    def __init__(self, app) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.bytes_in: Counter[str] = Counter()
        self.bytes_out: Counter[str] = Counter()

    def snapshot(self, *, reset: bool) -> bytes:
        with self.lock:
            body = json.dumps(
                {
                    "requests": dict(self.requests),
                    "bytes_sent_to_server": dict(self.bytes_in),
                    "bytes_sent_by_server": dict(self.bytes_out),
                }
            ).encode()
            if reset:
                self.requests.clear()
                self.bytes_in.clear()
                self.bytes_out.clear()
        return body

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == COUNTS_PATH:
            body = self.snapshot(reset=environ["REQUEST_METHOD"] == "POST")
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        return self._counted(environ, start_response)

    def _counted(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        kind = _kind(environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""))
        body = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = body
        with self.lock:  # counted on arrival: a reading right after it includes it
            self.requests[kind] += 1
        sent = 0
        for chunk in self.app(environ, start_response):
            sent += len(chunk)
            yield chunk
        with self.lock:
            self.bytes_in[kind] += body.count
            self.bytes_out[kind] += sent


class _CountingInput:
    """The request body as the server reads it (chunked uploads carry no Content-Length)."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.count = 0

    def read(self, *args):
        data = self.stream.read(*args)
        self.count += len(data)
        return data

    def readline(self, *args):
        data = self.stream.readline(*args)
        self.count += len(data)
        return data

    def readinto(self, buffer):
        size = self.stream.readinto(buffer)
        self.count += size or 0
        return size

    def __iter__(self):
        for line in self.stream:
            self.count += len(line)
            yield line

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _kind(method: str, path: str, query: str) -> str:
    key = path.strip("/").partition("/")[2]  # path-style: /bucket/key
    if method == "GET" and ("list-type" in query or not key):
        return "LIST"
    return method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = Counting(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, True, request_handler=MotoRequestHandler)
    server.serve_forever()


if __name__ == "__main__":
    main()
