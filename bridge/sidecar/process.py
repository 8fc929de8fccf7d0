"""A sidecar this Python process starts, watches and stops itself (a managed sidecar).

In the spirit of hashicorp/go-plugin, without its known holes:
- the handshake comes on a private pipe, not stdout, so nothing the sidecar or a guest
  prints can corrupt it, and it carries a version that must match (handshake.py);
- the sidecar dies with its parent however the parent dies, even by SIGKILL: it holds
  the read end of a "lifeline" pipe whose only write end is ours, and stops at EOF;
- it runs in its own process group, and stopping it signals the whole group;
- it is restarted when it dies, on the same socket, so clients reconnect by themselves;
- start-up failures say what happened, with the end of what the sidecar printed, and
  leave nothing running: the child's whole process group is killed.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..errors import SidecarError
from ..runtime.closing import Closing
from .handshake import Handshake, worker_sockets

__all__ = ["ManagedSidecar", "RestartBackoff", "first_line", "spawn_with_pipes", "wait_closed"]

logger = logging.getLogger("bridge.sidecar")


class RestartBackoff:
    """How long to wait before restarting a server process that died: 0.2 s, growing to
    5 s while it keeps dying young; one that lived YOUNG_S or more starts over at 0.2 s."""

    STEPS_S = (0.2, 0.5, 1.0, 2.0, 5.0)
    YOUNG_S = 10.0

    def __init__(self) -> None:
        self.quick_deaths = 0  # in a row

    def after(self, lived_s: float) -> float:
        """The delay before restarting a process that died after `lived_s` seconds."""
        self.quick_deaths = self.quick_deaths + 1 if lived_s < self.YOUNG_S else 1
        return self.STEPS_S[min(self.quick_deaths, len(self.STEPS_S)) - 1]

    def wait_to_restart(
        self, process: subprocess.Popen[bytes], stopping: threading.Event, what: str
    ) -> bool:
        """Wait for `process` (`what`, for the log) to die, then the delay before its
        restart; False as soon as `stopping` is set (no restart then)."""
        born = time.monotonic()
        status = process.wait()
        if stopping.is_set():
            return False
        delay = self.after(time.monotonic() - born)
        logger.warning("%s exited (status %s): restarting in %g s", what, status, delay)
        return not stopping.wait(delay)


def spawn_with_pipes(
    command: list[str], *, stderr: int | None = None, new_session: bool = False
) -> tuple[subprocess.Popen[bytes], int, int]:
    """Start `bridge serve` (`command`) with a private handshake pipe and a lifeline:
    the process, the handshake's read end and the lifeline's write end (ours alone, not
    inherited: the server sees EOF when we die). Both are the caller's to close."""
    handshake_read, handshake_write = os.pipe()
    lifeline_read, lifeline_write = os.pipe()
    command = [
        *command,
        "--handshake-fd",
        str(handshake_write),
        "--lifeline-fd",
        str(lifeline_read),
    ]
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # the ready line comes on the handshake pipe
            stderr=stderr,
            pass_fds=(handshake_write, lifeline_read),
            start_new_session=new_session,
        )
    except BaseException:
        os.close(handshake_read)
        os.close(lifeline_write)
        raise
    finally:
        os.close(handshake_write)
        os.close(lifeline_read)
    return process, handshake_read, lifeline_write


class ManagedSidecar(Closing):
    """`bridge serve MODULES` as a child process, on a socket in a private directory.

    >>> with ManagedSidecar(["build/pricing.wasm"]) as sidecar:  # doctest: +SKIP
    ...     pricing = bridge.connect(sidecar.target, PricingStub)

    `processes` > 1 runs `bridge serve --processes N`: N server processes, one socket
    each, and `target` names them all. `command` replaces the command line
    (for tests); it must speak the handshake.
    """

    def __init__(
        self,
        modules: Sequence[str | os.PathLike[str]],
        *,
        workers: int = 4,
        processes: int = 1,
        start_timeout_s: float = 60.0,
        restart: bool = True,
        command: Sequence[str] | None = None,
    ) -> None:
        self.modules = [str(Path(m).resolve()) for m in modules]
        self.workers = workers
        self.processes = processes
        self.start_timeout_s = start_timeout_s
        self.restart = restart
        self._command = list(command) if command else None
        self._folder = Path(tempfile.mkdtemp(prefix="bridge-sidecar-"))
        self.socket = self._folder / "sidecar.sock"
        self.handshake: Handshake | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._backoff = RestartBackoff()
        self._lifeline: int | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)

    @property
    def target(self) -> str:
        """The gRPC target to dial (the same across restarts): with `processes` > 1, every
        worker's socket (bridge's client keeps each calling thread on one of them)."""
        sockets = worker_sockets(self.socket, max(self.processes, 1))
        return "unix:" + ",".join(str(socket) for socket in sockets)

    def start(self) -> ManagedSidecar:
        """Spawn the sidecar and wait until its health says SERVING; SidecarError if it
        exits, says something else than the handshake, or takes too long."""
        with self._lock:
            self._spawn()
        threading.Thread(target=self._watch, name="bridge-sidecar-watch", daemon=True).start()
        return self

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM to the sidecar's process group, then SIGKILL after `grace_s`; safe to
        call twice."""
        self._stopping.set()
        with self._lock:
            process = self.process
            if process is not None and process.poll() is None:
                _signal_group(process, signal.SIGTERM)
                try:
                    process.wait(grace_s)
                except subprocess.TimeoutExpired:
                    _signal_group(process, signal.SIGKILL)
                    process.wait()
            if self._lifeline is not None:
                os.close(self._lifeline)
                self._lifeline = None
        for socket in worker_sockets(self.socket, max(self.processes, 1)):
            socket.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self._folder.rmdir()

    close = stop

    # --- internals ----------------------------------------------------------------

    def _spawn(self) -> None:
        command = self._command or [
            sys.executable, "-m", "bridge", "serve", *self.modules,
            "--socket", str(self.socket), "--workers", str(self.workers), "--no-watch",
            "--processes", str(self.processes),
        ]  # fmt: skip
        process, handshake_read, lifeline_write = spawn_with_pipes(
            command,
            stderr=subprocess.PIPE,
            new_session=True,  # its own process group, which stop() signals
        )
        if self._lifeline is not None:
            os.close(self._lifeline)
        self._lifeline = lifeline_write  # ours alone (not inherited): EOF when we die
        self.process = process
        assert process.stderr is not None
        threading.Thread(target=self._forward_stderr, args=(process.stderr,), daemon=True).start()
        try:
            try:
                line = self._read_handshake(handshake_read, process)
            finally:
                os.close(handshake_read)
            handshake = Handshake.parse(line)
            self._wait_serving()
        except BaseException:
            # A start that failed leaves nothing running: not the child, not what it
            # started (the whole group), whatever the failure.
            _kill(process)
            raise
        self.handshake = handshake

    def _read_handshake(self, fd: int, process: subprocess.Popen[bytes]) -> str:
        try:
            line = first_line(fd, self.start_timeout_s)
        except TimeoutError:
            raise SidecarError(
                f"timeout while waiting for the sidecar to start ({self.start_timeout_s:g} s)"
                f"{self._said()}"
            ) from None
        if line is None:
            _signal_group(process, signal.SIGKILL)  # what it started, while its pgid holds
            status = process.wait()
            raise SidecarError(
                f"the sidecar exited (status {status}) before it was ready{self._said()}"
            )
        return line

    def _wait_serving(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    answer = health.Check(health_pb2.HealthCheckRequest(), timeout=2)  # type: ignore[attr-defined]
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise SidecarError(f"the sidecar never reported SERVING{self._said()}")
                time.sleep(0.05)

    def _watch(self) -> None:
        """Restart the sidecar when it dies, with backoff, until stop()."""
        while not self._stopping.is_set():
            process = self.process
            if process is None:
                return
            if not self.restart:
                process.wait()
                return
            if not self._backoff.wait_to_restart(process, self._stopping, "the sidecar"):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._spawn()
                except Exception as exc:  # noqa: BLE001 - the next death is retried too
                    logger.error("the sidecar did not restart: %s", exc)
                self.restarts += 1

    def _forward_stderr(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                line = raw.decode(errors="replace").rstrip()
                self._stderr.append(line)
                logger.info("sidecar: %s", line)

    def _said(self) -> str:
        lines = [line for line in self._stderr if line.strip()]
        return f"; it said: {lines[-1]}" if lines else ""


def first_line(fd: int, timeout_s: float) -> str | None:
    """The first line written to the pipe `fd` (a handshake); None when the writer closes
    it first (the process exited); TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    data = b""
    # A selector (epoll), not select(): select() fails for a descriptor >= 1024.
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line in {timeout_s:g} s")
            if selector.select(min(left, 0.5)):
                chunk = os.read(fd, 4096)
                if not chunk:
                    return None
                data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")


def wait_closed(fd: int) -> None:
    """Block until every writer of the pipe `fd` has closed it (a lifeline: the process
    that holds the write end is gone)."""
    with contextlib.suppress(OSError):
        while os.read(fd, 1):
            pass


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process's group and reap it; nothing once it was reaped (its pid,
    and so the group's id, may belong to another process by then)."""
    if process.returncode is None:
        _signal_group(process, signal.SIGKILL)
        process.wait()
