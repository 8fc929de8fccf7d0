"""`bridge serve --processes N`: N server processes behind one address, and the process
that keeps them (the supervisor, which is the `bridge serve` process itself).

One grpcio server is bound by its process's GIL; N of them use N cores. Each worker is a
whole `bridge serve` (server.py) of the same modules, so everything a sidecar does
(health, reflection, reload, drain, the handshake) each worker does as before; the
supervisor only starts, watches and signals them:

- **One address.** TCP: every worker binds the same HOST:PORT with SO_REUSEPORT and the
  kernel spreads new connections over them. The supervisor first binds that address
  itself with SO_REUSEPORT and keeps it bound, not listening, while it lives: port 0
  becomes a real port before any worker starts, and a process without SO_REUSEPORT
  (another `bridge serve`) cannot take the port from under the workers. Unix sockets:
  worker i listens on its own socket, `worker_socket(path, i)` (`x.sock`, `x.1.sock`,
  `x.2.sock`, ...), and clients spread calls over them with gRPC's round_robin over the
  target `unix:x.sock,x.1.sock,...` (the ready line's address), or bridge's own client
  given `x.sock` alone (client.py finds the others).
- **Ready** once every worker is: worker 0 starts first (it compiles the modules into
  the cache; the others then load them from it, and a module that does not load is said
  once, not N times), then the others at once; the ready line comes when all N said
  theirs, each after its health said SERVING.
- **Signals.** SIGHUP is sent on to every worker: each reloads, all or nothing, as a
  single sidecar does. SIGTERM or SIGINT is sent on to every worker: each turns health
  NOT_SERVING, lets its calls in flight finish (up to --grace) and exits; the supervisor
  exits 0 when all have exited 0.
- **A worker that dies is restarted** on its socket (or the shared port), with the
  backoff of a managed sidecar (0.2 s growing to 5 s while it keeps dying young); the
  others serve meanwhile. Workers hold a lifeline pipe to the supervisor, so they stop
  when it dies, however it dies, and they stay in its process group, so a signal to the
  group reaches them all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import SidecarError
from .handshake import Handshake, worker_socket, worker_sockets
from .process import RestartBackoff, first_line, spawn_with_pipes, wait_closed
from .server import ServeOptions, check_listen, claim_socket

__all__ = ["Supervisor", "run_supervised"]

logger = logging.getLogger("bridge.sidecar")

# How long a worker may take to say it is ready (loading, compiling the modules).
START_TIMEOUT_S = 120.0
# Each worker closes a client connection after about this long (gRPC's GOAWAY, with
# +-10% jitter; calls in flight finish): a client that went to another worker while
# this one was down (client.py keeps a caller on one worker) comes back, and on TCP
# the kernel places the connection again.
WORKER_CONNECTION_AGE_S = 30.0


class _Worker:
    """One worker slot: its process (replaced when it dies) and where it listens."""

    def __init__(self, index: int, where: list[str]) -> None:
        self.index = index
        self.where = where  # --socket PATH, or --listen HOST:PORT
        self.process: subprocess.Popen[bytes] | None = None
        self.lifeline: int | None = None  # our end: the worker stops when it closes
        self.handshake: Handshake | None = None
        self.handshake_fd: int | None = None  # the read end, until `_ready` reads it
        self.restarts = 0

    @property
    def name(self) -> str:
        pid = self.process.pid if self.process is not None else "-"
        return f"worker {self.index} (pid {pid})"


class Supervisor:
    """Runs `options.processes` workers of `options` behind one address (see the module's
    docstring). `start()` returns the ready line's handshake; `serve()` runs until
    SIGTERM/SIGINT (or `stop()`) and the drain, and says whether every worker exited 0."""

    def __init__(self, options: ServeOptions, *, start_timeout_s: float = START_TIMEOUT_S) -> None:
        if options.processes < 2:
            raise SidecarError("a supervisor runs 2 or more processes: serve 1 in-process")
        if not options.modules:
            raise SidecarError("no module to serve: name at least one .wasm file")
        self.options = options
        self.start_timeout_s = start_timeout_s
        self.workers: list[_Worker] = []
        self.handshake: Handshake | None = None
        self._reservation: socket.socket | None = None
        self._sockets: list[Path] = []
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # spawning and signalling: one at a time
        self._clean = True

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> Handshake:
        """Claim the address, start every worker, and return the handshake once all of
        them are ready; SidecarError (with nothing left running) when one cannot start."""
        try:
            places = self._claim()
            self.workers = [_Worker(i, where) for i, where in enumerate(places)]
            # Worker 0 first: it fills the compile cache, and says once what fails.
            self._spawn(self.workers[0])
            self._ready(self.workers[0])
            for worker in self.workers[1:]:
                with self._lock:  # not after stop() has signalled the workers
                    if self._stopping.is_set():
                        raise SidecarError("stopped (SIGTERM or SIGINT) while starting")
                    self._spawn(worker)
            for worker in self.workers[1:]:
                self._ready(worker)
        except BaseException:
            self._stopping.set()
            for worker in self.workers:
                _kill(worker)
                _close_lifeline(worker)
                if worker.handshake_fd is not None:
                    os.close(worker.handshake_fd)
                    worker.handshake_fd = None
            self._release()
            raise
        first = self.workers[0].handshake
        assert first is not None
        if first.network == "unix":
            address = ",".join(str(path) for path in self._sockets)
            self.handshake = Handshake("unix", address)
        else:
            self.handshake = first
        for worker in self.workers:
            threading.Thread(
                target=self._watch, args=(worker,), name=f"bridge-worker-{worker.index}",
                daemon=True,
            ).start()  # fmt: skip
        logger.info(
            "%d workers serve at %s: %s",
            len(self.workers),
            self.handshake.target,
            ", ".join(f"pid {w.process.pid}" for w in self.workers if w.process),
        )
        return self.handshake

    def reload(self) -> None:
        """SIGHUP to every worker: each reloads its modules, all or nothing."""
        with self._lock:
            live = [w for w in self.workers if _alive(w)]
            for worker in live:
                _signal(worker, signal.SIGHUP)
        logger.info("reload: SIGHUP sent to %d workers", len(live))

    def stop(self) -> None:
        """SIGTERM to every worker, which drain (up to the grace period) and exit; the
        supervisor waits for them (a worker still there long after its grace is killed).
        Safe to call twice."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            live = [w for w in self.workers if _alive(w)]
            logger.info("stopping: SIGTERM to %d workers", len(live))
            for worker in live:
                _signal(worker, signal.SIGTERM)
        patience = self.options.grace_s + 15.0
        deadline = time.monotonic() + patience
        for worker in live:  # one that died before (and awaits its restart) is not drained
            process = worker.process
            if process is None:
                continue
            try:
                status = process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error("%s did not stop %g s after SIGTERM: killed", worker.name, patience)
                _kill(worker)
                self._clean = False
                continue
            if status != 0:
                logger.error("%s exited with status %s", worker.name, status)
                self._clean = False
        for worker in self.workers:
            _close_lifeline(worker)
        self._release()
        self._stopped.set()

    def serve(self, *, announce: Callable[[str], None], lifeline_fd: int | None = None) -> bool:
        """Start, announce the ready line, and supervise until SIGTERM or SIGINT (or the
        parent's lifeline closes); True when every worker drained and exited 0."""

        def in_background(work: Callable[[], object], what: str) -> Callable[[int, object], None]:
            def guarded() -> None:
                try:
                    work()
                except Exception as exc:  # noqa: BLE001 - logged; the supervisor goes on
                    logger.error("%s failed: %s", what, exc)

            return lambda signum, frame: _daemon(guarded, f"bridge-supervisor-{what}")

        signal.signal(signal.SIGTERM, in_background(self.stop, "stop"))
        signal.signal(signal.SIGINT, in_background(self.stop, "stop"))
        signal.signal(signal.SIGHUP, in_background(self.reload, "reload"))
        handshake = self.start()
        if lifeline_fd is not None:

            def parent_gone() -> None:
                wait_closed(lifeline_fd)
                logger.warning("the parent process is gone: stopping")
                self.stop()

            _daemon(parent_gone, "bridge-lifeline")
        announce(handshake.line())
        while not self._stopped.wait(0.5):
            pass
        return self._clean

    # --- internals ----------------------------------------------------------------

    def _claim(self) -> list[list[str]]:
        """Where each worker listens; the address checked and held for them first."""
        options = self.options
        if options.listen is not None:
            host, port_text, _ = check_listen(options)
            port = self._reserve(host, int(port_text))
            return [["--listen", f"{host}:{port}"]] * options.processes
        from .server import _private_socket

        base = Path(options.socket or _private_socket()).absolute()
        self._sockets = [claim_socket(path) for path in worker_sockets(base, options.processes)]
        # A socket of a worker beyond N, left by an earlier run with more: a client that
        # looks for siblings (client.py) must not find it.
        index = options.processes
        while (extra := worker_socket(base, index)).is_socket():
            claim_socket(extra)  # removed when stale; SidecarError when something serves
            index += 1
        return [["--socket", str(path)] for path in self._sockets]

    def _reserve(self, host: str, port: int) -> int:
        """Bind HOST:PORT with SO_REUSEPORT, not listening, for the supervisor's life: a
        port 0 gets its number, and no process without SO_REUSEPORT can bind it."""
        try:
            infos = socket.getaddrinfo(
                host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        except OSError as exc:
            raise SidecarError(f"cannot listen on {host}:{port}: {exc}") from None
        family, kind, proto, _, address = infos[0]
        reservation = socket.socket(family, kind, proto)
        try:
            reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            reservation.bind(address)
        except OSError as exc:
            reservation.close()
            raise SidecarError(
                f"cannot listen on {host}:{port} (is the port in use?): {exc}"
            ) from None
        self._reservation = reservation
        return int(reservation.getsockname()[1])

    def _release(self) -> None:
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None

    def _command(self, worker: _Worker) -> list[str]:
        options = self.options
        command = [
            sys.executable, "-m", "bridge", "serve", *map(str, options.modules),
            *worker.where,
            "--workers", str(options.workers),
            "--grace", f"{options.grace_s:g}",
            "--worker-index", str(worker.index),
            "--connection-age", f"{options.connection_age_s or WORKER_CONNECTION_AGE_S:g}",
        ]  # fmt: skip
        if options.listen is not None:
            command.append("--reuse-port")
        if options.watch_s is None:
            command.append("--no-watch")
        for flag, path in (
            ("--tls-cert", options.tls_cert),
            ("--tls-key", options.tls_key),
            ("--tls-client-ca", options.tls_client_ca),
        ):
            if path is not None:
                command += [flag, str(path)]
        if options.insecure:
            command.append("--insecure")
        return command

    def _spawn(self, worker: _Worker) -> None:
        """Start the worker; its handshake is read by `_ready`."""
        process, handshake_read, lifeline_write = spawn_with_pipes(self._command(worker))
        _close_lifeline(worker)
        worker.lifeline = lifeline_write  # ours alone (not inherited): EOF when we die
        worker.process = process
        worker.handshake = None
        worker.handshake_fd = handshake_read

    def _ready(self, worker: _Worker) -> None:
        """Wait for the worker's handshake; SidecarError if it exits or takes too long."""
        fd, process = worker.handshake_fd, worker.process
        assert fd is not None and process is not None
        worker.handshake_fd = None
        try:
            line = first_line(fd, self.start_timeout_s)
        except TimeoutError:
            raise SidecarError(
                f"{worker.name} did not get ready in {self.start_timeout_s:g} s"
            ) from None
        finally:
            os.close(fd)
        if line is None:
            status = process.wait()
            raise SidecarError(
                f"{worker.name} exited (status {status}) before it was ready (its error is above)"
            )
        worker.handshake = Handshake.parse(line)

    def _watch(self, worker: _Worker) -> None:
        """Restart the worker whenever it dies, with backoff, until the supervisor stops."""
        backoff = RestartBackoff()
        while not self._stopping.is_set():
            process = worker.process
            assert process is not None
            if not backoff.wait_to_restart(process, self._stopping, worker.name):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self._spawn(worker)
                except Exception as exc:  # noqa: BLE001 - tried again after the backoff
                    logger.error("worker %d did not restart: %s", worker.index, exc)
                    continue
            try:
                self._ready(worker)
            except Exception as exc:  # noqa: BLE001 - its death is seen and retried
                logger.error("%s did not restart: %s", worker.name, exc)
                if self._stopping.is_set():
                    return
                _kill(worker)
                continue
            worker.restarts += 1
            logger.info("%s serves again (restart %d)", worker.name, worker.restarts)


def _alive(worker: _Worker) -> bool:
    return worker.process is not None and worker.process.poll() is None


def _signal(worker: _Worker, sig: int) -> None:
    if worker.process is not None:
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(sig)


def _kill(worker: _Worker) -> None:
    """SIGKILL the worker and reap it (nothing once it was reaped)."""
    process = worker.process
    if process is not None and process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()


def _close_lifeline(worker: _Worker) -> None:
    if worker.lifeline is not None:
        with contextlib.suppress(OSError):
            os.close(worker.lifeline)
        worker.lifeline = None


def _daemon(target: Callable[[], None], name: str) -> None:
    threading.Thread(target=target, name=name, daemon=True).start()


def run_supervised(
    options: ServeOptions,
    *,
    announce: Callable[[str], None],
    lifeline_fd: int | None = None,
) -> bool:
    """`bridge serve --processes N` (N >= 2): serve until SIGTERM/SIGINT; True when
    every worker drained and exited 0."""
    return Supervisor(options).serve(announce=announce, lifeline_fd=lifeline_fd)
