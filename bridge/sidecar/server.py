"""The sidecar: guest modules served as real gRPC services, with health and reflection.

Each method's request bytes go straight to the guest and its answer straight back
(grpcio generic handlers, no decode or re-encode). A module is held in a Generation that
counts the calls inside it, so a reload swaps in the new module for new calls while the
calls in flight finish on the old one, which is closed when the last of them leaves.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import stat
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from ..config import RuntimeConfig
from ..errors import (
    AbiViolation,
    BridgeError,
    CallError,
    DeadlineExceeded,
    GuestError,
    GuestTrap,
    ResourceExhausted,
    SidecarError,
    StatusCode,
    UnknownMethod,
)
from ..runtime.engine import read_wasm
from ..runtime.module import GuestModule
from ..schema.embed import embedded_schema
from .handshake import Handshake
from .process import wait_closed

__all__ = ["ERROR_KIND_KEY", "ServeOptions", "Sidecar", "run"]

logger = logging.getLogger("bridge.sidecar")

#: Trailing metadata that names the bridge error behind a status, so that a client can
#: raise the same exception an in-process call would (a trap is not a guest's answer).
ERROR_KIND_KEY = "bridge-error"
# Longer than this, a remaining time means "no deadline" (gRPC says ~292 years).
_NO_DEADLINE_S = 365 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What `bridge serve` serves, where, and how."""

    modules: tuple[Path, ...]
    #: A unix socket path; None with no `listen` picks a private one.
    socket: Path | None = None
    #: HOST:PORT for TCP (port 0 picks a free one).
    listen: str | None = None
    #: Calls served at once (gRPC threads, and each module's instance pool).
    workers: int = 8
    #: How long in-flight calls may take to finish at shutdown.
    grace_s: float = 10.0
    #: Seconds between looks at the modules' files for a reload; None never looks.
    watch_s: float | None = 1.0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Client certificates must be signed by this CA (mutual TLS).
    tls_client_ca: Path | None = None
    #: Serve plain TCP on a non-loopback address (warned about on every start).
    insecure: bool = False
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


class Generation:
    """One loaded module and the calls inside it."""

    def __init__(self, module: GuestModule, stamp: tuple[int, int]) -> None:
        self.module = module
        self.stamp = stamp  # (mtime_ns, size) of the file it was loaded from
        self._active = 0
        self._retired = False
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """Count a call in; False once the generation is retired (look again)."""
        with self._lock:
            if self._retired:
                return False
            self._active += 1
            return True

    def exit(self) -> None:
        with self._lock:
            self._active -= 1
            last = self._retired and self._active == 0
        if last:
            self.module.close()

    def retire(self) -> None:
        """No new calls; close the module when the last call in it leaves."""
        with self._lock:
            self._retired = True
            idle = self._active == 0
        if idle:
            self.module.close()


class Sidecar:
    """A gRPC server of guest modules. `start()` loads them and listens; `stop()` drains."""

    def __init__(self, options: ServeOptions) -> None:
        if not options.modules:
            raise SidecarError("no module to serve: name at least one .wasm file")
        self.options = options
        self.runtime = replace(
            options.runtime,
            pool_size=max(options.workers, 1),
            pool_min_idle=min(options.runtime.pool_min_idle, options.workers),
        )
        self.health = health.HealthServicer()
        self._generations: dict[Path, Generation] = {}
        self._table: Mapping[str, Generation] = {}  # method -> generation, swapped whole
        self._handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {}
        self._server: grpc.Server | None = None
        self._socket: Path | None = None
        self._reload_lock = threading.Lock()
        self._stopped = threading.Event()
        self._watcher: threading.Thread | None = None
        self.handshake: Handshake | None = None

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> Handshake:
        """Load every module, listen, and report SERVING; the handshake to print."""
        # Not resolved: a ConfigMap swaps a `..data` symlink under the path, and the
        # watcher must see the path's new target.
        paths = [Path(p).absolute() for p in self.options.modules]
        for path in paths:
            self._generations[path] = self._load(path)
        self._table = self._method_table()
        server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=self.options.workers, thread_name_prefix="bridge-serve"
            ),
            handlers=[_Generic(self._handlers)],
            options=[("grpc.so_reuseport", 0)],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        services = sorted({m.partition("/")[0] for m in self._table})
        reflection.enable_server_reflection(
            [*services, health.SERVICE_NAME, reflection.SERVICE_NAME], server, self._pool()
        )
        self.handshake = self._bind(server)
        server.start()
        self._server = server
        if self._socket is not None:
            os.chmod(self._socket, 0o600)
        self._set_health(services, health_pb2.HealthCheckResponse.SERVING)
        if self.options.watch_s:
            self._watcher = threading.Thread(
                target=self._watch, name="bridge-serve-watch", daemon=True
            )
            self._watcher.start()
        logger.info("serving %s at %s", ", ".join(services), self.handshake.target)
        return self.handshake

    def stop(self, grace_s: float | None = None) -> None:
        """Stop taking calls, let those in flight finish (up to the grace period), close
        the modules and remove the socket. Safe to call twice."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        if self._server is not None:
            grace = self.options.grace_s if grace_s is None else grace_s
            self._server.stop(grace).wait(grace + 5)
        for generation in self._generations.values():
            generation.retire()
        if self._socket is not None:
            self._socket.unlink(missing_ok=True)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until `stop()`; False if `timeout_s` passed first."""
        return self._stopped.wait(timeout_s)

    def reload(self, paths: Iterable[Path] | None = None) -> dict[Path, str | None]:
        """Load the modules at `paths` (default: all) again and swap them in; the old
        ones finish their calls. A module that fails to load keeps the old one serving.
        Returns each path's error, or None."""
        results: dict[Path, str | None] = {}
        with self._reload_lock:
            for path in list(paths or self._generations):
                old = self._generations[path]
                try:
                    new = self._load(path)
                except BridgeError as exc:
                    logger.error("%s did not reload, the old module still serves: %s", path, exc)
                    results[path] = str(exc)
                    continue
                self._generations[path] = new
                self._table = self._method_table()
                old.retire()
                logger.info("reloaded %s", path)
                results[path] = None
        return results

    # --- calls --------------------------------------------------------------------

    def _handler(self, method: str) -> grpc.RpcMethodHandler[bytes, bytes]:
        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            while True:
                generation = self._table.get(method)
                if generation is None:
                    context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not served")
                if generation.enter():
                    break
            try:
                return generation.module.call(
                    method, request, timeout_s=self._timeout(method, context)
                )
            except BridgeError as exc:
                code, kind = _status(exc)
                context.set_trailing_metadata(((ERROR_KIND_KEY, kind),))
                message = exc.status_message if isinstance(exc, GuestError) else str(exc)
                context.abort(code, message)
            finally:
                generation.exit()

        return grpc.unary_unary_rpc_method_handler(handle)

    # --- internals ----------------------------------------------------------------

    def _timeout(self, method: str, context: grpc.ServicerContext) -> float | None:
        """The guest's deadline: the client's, capped by the runtime's own call timeout
        (gRPC reports "no deadline" as a huge number of seconds)."""
        remaining = context.time_remaining()
        limit = self.runtime.call_timeout_s
        if remaining is None or (limit is not None and remaining >= limit):
            return None  # the module's own deadline, armed without a per-call change
        if remaining <= 0:
            raise DeadlineExceeded(f"{method}: the deadline passed before the call", timeout_s=0)
        return remaining if remaining < _NO_DEADLINE_S else None

    def _load(self, path: Path) -> Generation:
        module = GuestModule(path, self.runtime)  # ModuleNotFound names a missing file
        return Generation(module, _stamp(path))

    def _method_table(self) -> dict[str, Generation]:
        exporters: dict[str, list[tuple[Path, Generation]]] = {}
        for path, generation in self._generations.items():
            for method in generation.module.methods:
                exporters.setdefault(method, []).append((path, generation))
        table: dict[str, Generation] = {}
        for method, candidates in exporters.items():
            if len(candidates) > 1:
                candidates = [c for c in candidates if _implements(c[1].module, method)]
            if len(candidates) != 1:
                names = " and ".join(str(path) for path, _ in candidates) or "none of them"
                raise SidecarError(f"{method} is implemented by {names}: serve one of them")
            table[method] = candidates[0][1]
            if f"/{method}" not in self._handlers:
                self._handlers[f"/{method}"] = self._handler(method)
        return table

    def _pool(self) -> descriptor_pool.DescriptorPool:
        """The descriptors reflection serves: health's, reflection's own, and every
        module's embedded schema."""
        pool = descriptor_pool.DescriptorPool()
        added: set[str] = set()
        for own in (health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR):
            proto = descriptor_pb2.FileDescriptorProto()
            own.CopyToProto(proto)
            pool.Add(proto)
            added.add(proto.name)
        for path in self._generations:
            schema = embedded_schema(read_wasm(path))
            if schema is None:
                logger.warning("%s carries no schema: reflection cannot describe it", path.name)
                continue
            files = descriptor_pb2.FileDescriptorSet.FromString(schema.descriptor_set).file
            for file in files:
                if file.name not in added:
                    pool.Add(file)
                    added.add(file.name)
        return pool

    def _set_health(self, services: Sequence[str], status: int) -> None:
        for service in ["", *services]:
            self.health.set(service, status)

    def _bind(self, server: grpc.Server) -> Handshake:
        options = self.options
        if options.listen is not None:
            return self._bind_tcp(server, options.listen)
        path = options.socket or _private_socket()
        self._socket = _claim_socket(Path(path).absolute())
        previous = os.umask(0o177)  # the socket is owner-only from its first instant
        try:
            bound = server.add_insecure_port(f"unix:{self._socket}")
        finally:
            os.umask(previous)
        if not bound:
            raise SidecarError(f"cannot listen on {self._socket}")
        return Handshake("unix", str(self._socket))

    def _bind_tcp(self, server: grpc.Server, listen: str) -> Handshake:
        host, _, port_text = listen.rpartition(":")
        if not host or not port_text.isdigit():
            raise SidecarError(f"--listen {listen!r}: give HOST:PORT, as in 127.0.0.1:50051")
        options = self.options
        tls = options.tls_cert is not None or options.tls_key is not None
        if tls and (options.tls_cert is None or options.tls_key is None):
            raise SidecarError("TLS needs both --tls-cert and --tls-key")
        if options.tls_client_ca is not None and not tls:
            raise SidecarError("--tls-client-ca needs --tls-cert and --tls-key")
        if not _is_loopback(host) and not tls:
            if not options.insecure:
                raise SidecarError(
                    f"{host} is not a loopback address: serve it with TLS (--tls-cert and "
                    "--tls-key, and --tls-client-ca for clients with certificates), or pass "
                    "--insecure to serve plain TCP to the network anyway"
                )
            logger.warning(
                "serving plain TCP on %s, a non-loopback address: anyone who can reach it "
                "can call the modules (--insecure)",
                listen,
            )
        address = f"{host}:{port_text}"
        try:
            if tls:
                assert options.tls_cert is not None and options.tls_key is not None
                credentials = grpc.ssl_server_credentials(
                    [(options.tls_key.read_bytes(), options.tls_cert.read_bytes())],
                    root_certificates=(
                        options.tls_client_ca.read_bytes() if options.tls_client_ca else None
                    ),
                    require_client_auth=options.tls_client_ca is not None,
                )
                port = server.add_secure_port(address, credentials)
            else:
                port = server.add_insecure_port(address)
        except OSError as exc:
            raise SidecarError(f"cannot read the TLS files: {exc}") from None
        except RuntimeError as exc:
            raise SidecarError(f"cannot listen on {address}: {exc}") from None
        if not port:
            raise SidecarError(f"cannot listen on {address} (is the port in use?)")
        return Handshake("tcp", f"{host}:{port}")

    def _watch(self) -> None:
        interval = self.options.watch_s or 1.0
        while not self._stopped.wait(interval):
            changed = []
            for path, generation in list(self._generations.items()):
                try:
                    if _stamp(path) != generation.stamp:
                        changed.append(path)
                except OSError:
                    continue  # being replaced; look again next time
            if changed:
                self.reload(changed)


class _Generic(grpc.GenericRpcHandler):
    """Finds a method's handler by its full path; the dict grows on reload."""

    def __init__(self, handlers: Mapping[str, grpc.RpcMethodHandler[bytes, bytes]]) -> None:
        self._handlers = handlers

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        return self._handlers.get(handler_call_details.method)


def _status(exc: BridgeError) -> tuple[grpc.StatusCode, str]:
    """The gRPC status of a failed call, and the error's kind for the trailing metadata."""
    if isinstance(exc, GuestError):
        code = next(c for c in grpc.StatusCode if c.value[0] == exc.code)
        return code, "GuestError"
    for kind, code in _STATUS_OF:
        if isinstance(exc, kind):
            return code, kind.__name__
    return grpc.StatusCode.INTERNAL, type(exc).__name__


_STATUS_OF: tuple[tuple[type[CallError], grpc.StatusCode], ...] = (
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (UnknownMethod, grpc.StatusCode.UNIMPLEMENTED),
    (GuestTrap, grpc.StatusCode.INTERNAL),
    (AbiViolation, grpc.StatusCode.INTERNAL),
)


def _implements(module: GuestModule, method: str) -> bool:
    """Whether `module` implements `method` rather than only exporting it: Go glue
    exports every service of the schema, and a service without a server answers
    UNIMPLEMENTED before it reads the request. Asked only when two modules export one
    method."""
    try:
        module.call(method, b"", timeout_s=5.0)
    except GuestError as exc:
        return exc.code != StatusCode.UNIMPLEMENTED
    except CallError:
        return True
    return True


def _stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_mtime_ns, info.st_size


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _private_socket() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="bridge-")) / "sidecar.sock"


def _claim_socket(path: Path) -> Path:
    """`path`, free to listen on: a stale socket from a dead sidecar is removed; a live
    one, or a file that is not a socket, is refused."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return path
    if not stat.S_ISSOCK(mode):
        raise SidecarError(f"{path} exists and is not a socket: choose another --socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        logger.info("removing the stale socket %s (nothing listens on it)", path)
        path.unlink(missing_ok=True)
        return path
    finally:
        probe.close()
    raise SidecarError(
        f"a sidecar is already serving on {path}: stop it, or choose another --socket"
    )


def run(
    options: ServeOptions,
    *,
    announce: Callable[[str], None],
    lifeline_fd: int | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT (then drain and return), reloading on SIGHUP.
    `announce` gets the handshake line once every module is loaded and health says
    SERVING. With `lifeline_fd`, the read end of a pipe whose write end the parent
    holds, the sidecar stops when the parent dies, however it dies (even SIGKILL)."""
    sidecar = Sidecar(options)

    def in_background(work: Callable[[], object]) -> Callable[[int, object], None]:
        # Signal handlers run on the main thread: a drain must not block it there.
        return lambda signum, frame: threading.Thread(target=work, daemon=True).start()

    signal.signal(signal.SIGTERM, in_background(sidecar.stop))
    signal.signal(signal.SIGINT, in_background(sidecar.stop))
    signal.signal(signal.SIGHUP, in_background(sidecar.reload))
    try:
        handshake = sidecar.start()
    except BaseException:
        sidecar.stop(0)
        raise
    if lifeline_fd is not None:
        threading.Thread(
            target=_watch_lifeline, args=(lifeline_fd, sidecar), name="bridge-lifeline", daemon=True
        ).start()
    announce(handshake.line())
    while not sidecar.wait(0.5):
        pass


def _watch_lifeline(fd: int, sidecar: Sidecar) -> None:
    """Stop when the parent's end of the pipe closes: the parent has died."""
    wait_closed(fd)
    logger.warning("the parent process is gone: stopping")
    sidecar.stop()
