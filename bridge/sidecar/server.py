"""The sidecar: guest modules served as real gRPC services, with health and reflection.

Each method's request bytes go straight to the guest and its answer straight back
(grpcio generic handlers, no decode or re-encode), for each of gRPC's four kinds of
method (the module's schema says which): unary, server-streaming, client-streaming and
bidirectional. The guest gets the client's metadata, deadline and whether a request was
compressed; its headers, trailers, compression and error details go back to the client
(calls.py). Guest calls run on a pool of their
own, so gRPC's threads stay free to answer health and reflection while every worker is
inside a guest. A module is held in a Generation that counts the calls inside it, so a
reload swaps in the new module for new calls while the calls in flight finish on the old
one, which is closed when the last of them leaves. A reload is all or nothing: the new
method table and schemas are built first and committed only when they are whole.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn, cast

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from .. import abi
from ..config import RuntimeConfig
from ..errors import (
    BridgeError,
    CallError,
    DeadlineExceeded,
    GuestError,
    LoadError,
    SidecarError,
    StatusCode,
)
from ..runtime.engine import read_wasm
from ..runtime.module import GuestModule
from ..runtime.streams import Reply, ResponseStream
from ..schema.embed import embedded_schema
from ..schema.model import MethodKind
from .callpool import CallPool
from .calls import (
    ERROR_KIND_KEY,
    SERVER_OPTIONS,
    Refused,
    fail,
    inflate,
    inflated,
    request_metadata,
)
from .handshake import Handshake
from .process import wait_closed

__all__ = ["ERROR_KIND_KEY", "ServeOptions", "Sidecar", "check_listen", "claim_socket", "run"]

logger = logging.getLogger("bridge.sidecar")

# The imports through which a guest sees its call's context or shapes its answer
# (docs/abi.md section 15): a unary call into a module without them needs neither the
# client's metadata nor the reply's, and takes GuestModule.call's fast path.
_CONTEXT_IMPORTS = frozenset(
    {abi.IMPORT_CALL_INFO, abi.IMPORT_SET_METADATA, abi.IMPORT_SET_COMPRESSION}
)
# Longer than this, a remaining time means "no deadline" (gRPC says ~292 years).
_NO_DEADLINE_S = 365 * 24 * 3600.0
# gRPC's own threads, for health and reflection (a reflection stream holds one while it
# is open); guest calls never take them.
_CONTROL_THREADS = 4
# How often health looks at the modules' instance pools.
HEALTH_INTERVAL_S = 1.0
# At shutdown: how often the drain looks at the calls in flight, and the least time
# gRPC's own shutdown gets to send the last answers.
_DRAIN_POLL_S = 0.02
_FLUSH_S = 1.0
#: A module's load taking longer than this is logged: a first compile (seconds for a big
#: Go guest) must not look like a server that hangs before its ready line.
SLOW_LOAD_S = 1.0

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
_SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What `bridge serve` serves, where, and how."""

    modules: tuple[Path, ...]
    #: A unix socket path; None with no `listen` picks a private one.
    socket: Path | None = None
    #: HOST:PORT for TCP (port 0 picks a free one).
    listen: str | None = None
    #: Calls served at once (threads for guest calls, and each module's instance pool).
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
    #: Server processes behind the one address (supervisor.py); 1 serves in this process.
    processes: int = 1
    #: Bind TCP with SO_REUSEPORT: a worker of `processes` > 1, sharing its port.
    reuse_port: bool = False
    #: Close each client connection after about this long (gRPC's GOAWAY: calls in
    #: flight finish, new ones go to a new connection): a worker of `processes` > 1, so
    #: that clients that moved to another worker while this one was down come back.
    connection_age_s: float | None = None


class Generation:
    """One loaded module, the calls inside it, and whether it can make instances."""

    def __init__(self, module: GuestModule, stamp: tuple[int, int] | None) -> None:
        self.module = module
        self.stamp = stamp  # (mtime_ns, size) of the file, taken before it was read
        #: What health last concluded; written by the health thread only.
        self.healthy = True
        self._failures = module.stats().get("failures")
        #: Whether the module imports a call-context function (_CONTEXT_IMPORTS).
        self.context_aware = any(
            i.module == abi.HOST_MODULE and i.name in _CONTEXT_IMPORTS
            for i in module.interface.imports
        )
        self._active = 0
        self._retired = False
        self._lock = threading.Lock()

    @property
    def active(self) -> int:
        """Calls inside the module now."""
        return self._active

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

    def check_health(self) -> bool:
        """Whether the module can take calls, from its instance pool's state: an idle
        instance says yes; no instance at all (while the pool keeps some ready), or a
        failure to make one since the last look, says no; all instances busy keeps the
        last answer. So it turns true again as soon as the pool makes instances again."""
        stats = self.module.stats()
        failures = stats.get("failures")  # counted by pools that count them
        failed = failures is not None and failures != self._failures and failures > 0
        self._failures = failures
        if stats.get("idle", 0) > 0:
            self.healthy = True
        elif failed or (stats.get("instances", 0) == 0 and self.module.config.pool_min_idle > 0):
            self.healthy = False
        return self.healthy


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
        self._reflection = _Reflection()
        # Both swapped whole, each in one assignment, by a reload that succeeded.
        self._generations: Mapping[Path, Generation] = {}
        self._table: Mapping[str, Generation] = {}  # method -> generation
        self._handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        self._kinds: dict[str, MethodKind] = {}  # method -> the kind its handler serves
        # Guest calls run here, not on gRPC's threads (see _handler): on as few threads as
        # keep up, up to `workers` while calls wait (callpool.py).
        self._calls = CallPool(max(options.workers, 1), thread_name_prefix="bridge-call")
        self._server: grpc.Server | None = None
        self._socket: Path | None = None
        self._reload_lock = threading.Lock()
        self._health_lock = threading.Lock()
        self._published: dict[str, int] = {}  # service -> the health status set for it
        # path -> the stamp of a file version that was refused: not retried until it changes
        self._refused: dict[Path, tuple[int, int] | None] = {}
        self._started = False
        self._stopped = threading.Event()
        self._drained = threading.Event()  # stop() has finished
        self.handshake: Handshake | None = None

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> Handshake:
        """Load every module, listen, and report SERVING; the handshake to print."""
        # Not resolved: a ConfigMap swaps a `..data` symlink under the path, and the
        # watcher must see the path's new target.
        paths = [Path(p).absolute() for p in self.options.modules]
        generations: dict[Path, Generation] = {}
        try:
            for path in paths:
                generations[path] = self._load(path, _stamp(path))
            table = self._method_table(generations)
            schemas = self._descriptors(generations)
        except BaseException:
            for generation in generations.values():
                generation.retire()
            raise
        server = grpc.server(
            # Health and reflection only, while guest calls have their own pool; sized
            # for the calls too, so that a grpcio without per-handler pools still serves.
            futures.ThreadPoolExecutor(
                max_workers=_CONTROL_THREADS + self.options.workers,
                thread_name_prefix="bridge-serve",
            ),
            handlers=[_Generic(self._handlers, self._stopped)],
            options=[
                # Off, so that a second sidecar cannot share the port by mistake; on in
                # the workers of `--processes N`, which share it on purpose (supervisor.py).
                ("grpc.so_reuseport", 1 if self.options.reuse_port else 0),
                *SERVER_OPTIONS,
                # The runtime's message limit, not grpcio's 4 MiB: what a guest takes
                # in-process, it takes through the sidecar.
                ("grpc.max_receive_message_length", self.runtime.max_message_bytes),
                ("grpc.max_send_message_length", self.runtime.max_message_bytes),
                *(
                    []
                    if self.options.connection_age_s is None
                    else [("grpc.max_connection_age_ms", int(self.options.connection_age_s * 1000))]
                ),
            ],
        )
        # Through _Inflating: with grpcio's decompression off, their requests may come
        # gzip-compressed too.
        inflating = cast(grpc.Server, _Inflating(server, self.runtime.max_message_bytes))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, inflating)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(self._reflection, inflating)  # type: ignore[no-untyped-call]
        self._commit(generations, table, schemas)
        self.handshake = self._bind(server)
        server.start()
        self._server = server
        self._started = True
        if self._socket is not None:
            os.chmod(self._socket, 0o600)
        _daemon(self._check_health, "bridge-serve-health")
        if self.options.watch_s:
            _daemon(self._watch, "bridge-serve-watch")
        logger.info("serving %s at %s", ", ".join(_services(table)), self.handshake.target)
        return self.handshake

    def stop(self, grace_s: float | None = None) -> None:
        """Stop taking calls, let those in flight finish (up to the grace period), close
        the modules and remove the socket. Safe to call twice.

        While the calls in flight finish, the server still answers: health says
        NOT_SERVING and new guest calls are refused (UNAVAILABLE). Then gRPC's own
        shutdown sends the last answers and closes the connections."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        try:
            self.health.enter_graceful_shutdown()
            if self._server is not None:
                grace = self.options.grace_s if grace_s is None else grace_s
                deadline = time.monotonic() + grace
                in_flight = self._in_flight()
                logger.info(
                    "stopping: %d calls in flight get up to %g s to finish", in_flight, grace
                )
                while self._in_flight() and time.monotonic() < deadline:
                    time.sleep(_DRAIN_POLL_S)
                # What is left of the grace, and a moment at least for the answers just
                # given to leave (gRPC counts a call until its status is sent).
                left = max(deadline - time.monotonic(), _FLUSH_S)
                self._server.stop(left).wait(left + 5)
            self._calls.shutdown(wait=False)
            with self._reload_lock:  # a reload under way commits first, or not at all
                for generation in self._generations.values():
                    generation.retire()
            if self._socket is not None:
                self._socket.unlink(missing_ok=True)
        finally:
            self._drained.set()

    def _in_flight(self) -> int:
        return sum(g.active for g in self._generations.values())

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until `stop()` has drained and closed everything; False if `timeout_s`
        passed first."""
        return self._drained.wait(timeout_s)

    def reload(self, paths: Iterable[Path] | None = None) -> dict[Path, str | None]:
        """Load the modules at `paths` (default: all) again and swap them in; the old
        ones finish their calls. All or nothing: a module that fails to load, or new
        modules that do not fit together with the others (two serve one method, a
        schema that does not build), leave the old ones serving. Returns each path's
        error, or None."""
        results: dict[Path, str | None] = {}
        with self._reload_lock:
            if not self._started or self._stopped.is_set():
                return results
            current = self._generations
            fresh: dict[Path, Generation] = {}
            for path in current if paths is None else paths:
                if path not in current:
                    results[path] = f"{path} is not served"
                    continue
                stamp = _stamp(path)
                try:
                    fresh[path] = self._load(path, stamp)
                except Exception as exc:  # noqa: BLE001 - any failure keeps the old module
                    results[path] = self._refuse(path, stamp, exc)
            if not fresh:
                return results
            candidate = {**current, **fresh}
            try:
                table = self._method_table(candidate)
                schemas = self._descriptors(candidate)
            except Exception as exc:  # noqa: BLE001 - nothing was committed
                for path, generation in fresh.items():
                    generation.retire()
                    results[path] = self._refuse(path, generation.stamp, exc)
                return results
            self._commit(candidate, table, schemas)
            for path in fresh:
                current[path].retire()
                self._refused.pop(path, None)
                logger.info("reloaded %s", path)
                results[path] = None
        return results

    # --- calls --------------------------------------------------------------------

    def _enter(self, method: str, context: grpc.ServicerContext) -> Generation:
        """The generation that serves `method` now, with this call counted in."""
        while True:
            if self._stopped.is_set():  # draining: the calls in flight finish, no new one
                context.abort(grpc.StatusCode.UNAVAILABLE, "the sidecar is stopping")
            generation = self._table.get(method)
            if generation is None:
                context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not served")
            if generation.enter():
                return generation

    def _handler(self, method: str, kind: MethodKind) -> grpc.RpcMethodHandler[Any, Any]:
        limit = self.runtime.max_message_bytes

        def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
            generation = self._enter(method, context)
            try:
                module = generation.module
                timeout_s = self._timeout(method, context)
                if not generation.context_aware:  # the hot path: the guest sees bytes only
                    return module.call(method, inflate(request, limit), timeout_s=timeout_s)
                reply = module.invoke(
                    method,
                    inflate(request, limit),
                    timeout_s=timeout_s,
                    metadata=request_metadata(context),
                )
                return _answer(context, reply)
            except (BridgeError, Refused) as exc:
                _abort(context, method, exc)
            finally:
                generation.exit()

        def client_streaming(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
            generation = self._enter(method, context)
            try:
                cancelled = threading.Event()
                if not context.add_callback(cancelled.set):
                    cancelled.set()  # the call ended already
                reply = generation.module.invoke(
                    method,
                    inflated(requests, limit, cancelled),
                    timeout_s=self._timeout(method, context),
                    metadata=request_metadata(context),
                    cancelled=cancelled,
                )
                return _answer(context, reply)
            except (BridgeError, Refused, grpc.RpcError) as exc:
                _abort(context, method, exc)
            finally:
                generation.exit()

        def server_streaming(
            request: bytes | Iterator[bytes], context: grpc.ServicerContext
        ) -> Iterator[bytes]:
            generation = self._enter(method, context)
            try:
                # The client went away or cancelled: the guest's next send or receive
                # says so (and a stream that ended is not bothered).
                cancelled = threading.Event()
                streams: list[ResponseStream] = []

                def on_done() -> None:
                    cancelled.set()
                    for stream in streams:
                        stream.cancel()

                if not context.add_callback(on_done):
                    cancelled.set()  # the call ended already
                stream = generation.module.stream(
                    method,
                    inflate(request, limit)
                    if isinstance(request, bytes)
                    else inflated(request, limit, cancelled),
                    timeout_s=self._timeout(method, context),
                    metadata=request_metadata(context),
                )
                streams.append(stream)
                if cancelled.is_set():
                    stream.cancel()
                with stream:
                    _answer_headers(context, stream.headers(), stream.compression)
                    while (item := stream.read()) is not None:
                        message, uncompressed = item
                        if uncompressed:
                            context.disable_next_message_compression()
                        yield message
                    trailers = stream.trailers()
                    if trailers:
                        context.set_trailing_metadata(trailers)
            except (BridgeError, Refused, grpc.RpcError) as exc:
                _abort(context, method, exc)
            finally:
                generation.exit()

        # grpcio runs a handler on the pool its behavior names (as grpc_health's Watch
        # does): guest calls go to their own, and gRPC's threads stay free for health.
        handle: Callable[..., Any] = server_streaming
        make: Callable[..., grpc.RpcMethodHandler[Any, Any]] = grpc.stream_stream_rpc_method_handler
        if kind == MethodKind.UNARY:
            handle, make = unary, grpc.unary_unary_rpc_method_handler
        elif kind == MethodKind.CLIENT_STREAMING:
            handle, make = client_streaming, grpc.stream_unary_rpc_method_handler
        elif kind == MethodKind.SERVER_STREAMING:
            make = grpc.unary_stream_rpc_method_handler
        handle.experimental_thread_pool = self._calls  # type: ignore[attr-defined]
        return make(handle)

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

    def _load(self, path: Path, stamp: tuple[int, int] | None) -> Generation:
        slow = threading.Timer(
            SLOW_LOAD_S,
            logger.info,
            ("loading %s: compiling it (later starts find it in the compile cache) ...", path),
        )
        slow.daemon = True
        slow.start()
        try:
            module = GuestModule(path, self.runtime)  # ModuleNotFound names a missing file
        finally:
            slow.cancel()
            slow.join()  # a message under way is out before the next ones
        try:
            return Generation(module, stamp)
        except BaseException:
            module.close()
            raise

    def _refuse(self, path: Path, stamp: tuple[int, int] | None, exc: Exception) -> str:
        """Log why `path` did not reload, and remember its version so that the watcher
        does not try it again until the file changes."""
        self._refused[path] = stamp
        message = _one_line(exc)
        logger.error("%s did not reload, the old module still serves: %s", path, message)
        return message

    def _commit(
        self,
        generations: Mapping[Path, Generation],
        table: Mapping[str, Generation],
        schemas: descriptor_pool.DescriptorPool,
    ) -> None:
        """Serve `table`: new methods get handlers, reflection and health describe it."""
        for method, generation in table.items():
            # A method's handler serves its kind; a reload that changes the kind (a
            # unary method made streaming) changes the handler.
            kind = generation.module.kind(method)
            if self._kinds.get(method) != kind:
                self._handlers[f"/{method}"] = self._handler(method, kind)
                self._kinds[method] = kind
        self._generations = generations
        self._table = table
        services = [*_services(table), health.SERVICE_NAME, reflection.SERVICE_NAME]
        self._reflection.serve(services, schemas)
        self._publish_health()

    def _method_table(self, generations: Mapping[Path, Generation]) -> dict[str, Generation]:
        """Each method's generation; SidecarError when two modules implement one."""
        exporters: dict[str, list[tuple[Path, Generation]]] = {}
        for path, generation in generations.items():
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
        return table

    def _descriptors(
        self, generations: Mapping[Path, Generation]
    ) -> descriptor_pool.DescriptorPool:
        """The descriptors reflection serves: health's, reflection's own, and every
        module's embedded schema; LoadError names a module whose schema does not build."""
        pool = descriptor_pool.DescriptorPool()
        added: set[str] = set()
        for own in (health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR):
            proto = descriptor_pb2.FileDescriptorProto()
            own.CopyToProto(proto)
            pool.Add(proto)
            added.add(proto.name)
        for path in generations:
            schema = embedded_schema(read_wasm(path), path)
            if schema is None:
                logger.warning("%s carries no schema: reflection cannot describe it", path.name)
                continue
            files = descriptor_pb2.FileDescriptorSet.FromString(schema.descriptor_set).file
            for file in files:
                if file.name in added:
                    continue
                try:
                    pool.Add(file)
                except (TypeError, ValueError) as exc:  # it clashes with another module's
                    raise LoadError(
                        f"the schema embedded in {path} does not fit with the other "
                        f"modules' ({file.name}): {_one_line(exc)}",
                        path=str(path),
                    ) from None
                added.add(file.name)
        return pool

    # --- health ---------------------------------------------------------------------

    def _check_health(self) -> None:
        """Every HEALTH_INTERVAL_S: ask each module's pool whether it can make instances,
        and say so per service and for the whole server ("")."""
        while not self._stopped.wait(HEALTH_INTERVAL_S):
            try:
                for path, generation in list(self._generations.items()):
                    was = generation.healthy
                    if generation.check_health() != was:
                        if was:
                            logger.warning("%s cannot make instances: NOT_SERVING", path.name)
                        else:
                            logger.info("%s makes instances again: SERVING", path.name)
                self._publish_health()
            except Exception as exc:  # noqa: BLE001 - health must go on answering
                logger.error("the health check failed, it goes on: %s", _one_line(exc))

    def _publish_health(self) -> None:
        """Set each served service's status from its modules, "" from all of them, and
        SERVICE_UNKNOWN for a service a reload took away; only what changed is set."""
        with self._health_lock:
            statuses: dict[str, int] = {}
            for method, generation in self._table.items():
                service = method.partition("/")[0]
                ok = generation.healthy and statuses.get(service, _SERVING) == _SERVING
                statuses[service] = _SERVING if ok else _NOT_SERVING
            statuses[""] = (
                _SERVING if all(s == _SERVING for s in statuses.values()) else _NOT_SERVING
            )
            gone = {s: _SERVICE_UNKNOWN for s in self._published if s not in statuses}
            for service, status in {**statuses, **gone}.items():
                if self._published.get(service) != status:
                    self.health.set(service, status)
            self._published = statuses

    def _bind(self, server: grpc.Server) -> Handshake:
        options = self.options
        if options.listen is not None:
            return self._bind_tcp(server, options.listen)
        path = options.socket or _private_socket()
        self._socket = claim_socket(Path(path).absolute())
        previous = os.umask(0o177)  # the socket is owner-only from its first instant
        try:
            bound = server.add_insecure_port(f"unix:{self._socket}")
        finally:
            os.umask(previous)
        if not bound:
            raise SidecarError(f"cannot listen on {self._socket}")
        return Handshake("unix", str(self._socket))

    def _bind_tcp(self, server: grpc.Server, listen: str) -> Handshake:
        options = self.options
        host, port_text, tls = check_listen(options)
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
        """Reload the modules whose files changed: all that differ from what is served,
        once one of them also differs from the version last refused."""
        interval = self.options.watch_s or 1.0
        while not self._stopped.wait(interval):
            try:
                pending: list[Path] = []
                new = False
                for path, generation in list(self._generations.items()):
                    stamp = _stamp(path)
                    if stamp is None or stamp == generation.stamp:
                        continue  # unchanged, or being replaced: look again next time
                    pending.append(path)
                    new = new or stamp != self._refused.get(path)
                if new:
                    self.reload(pending)
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any failure
                logger.error("the module watcher failed, it goes on: %s", _one_line(exc))


class _Generic(grpc.GenericRpcHandler):
    """Finds a method's handler by its full path; the dict grows on reload. Once
    `stopping` is set, a served method's calls are refused at once, on gRPC's own
    threads: they do not queue behind the calls in flight for a guest thread."""

    def __init__(
        self,
        handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]],
        stopping: threading.Event,
    ) -> None:
        self._handlers = handlers
        self._stopping = stopping

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = self._handlers.get(handler_call_details.method)
        if handler is not None and self._stopping.is_set():
            return _REFUSED[(handler.request_streaming, handler.response_streaming)]
        return handler


def _refuse(request: Any, context: grpc.ServicerContext) -> Any:
    context.abort(grpc.StatusCode.UNAVAILABLE, "the sidecar is stopping")


#: A method's calls while the sidecar drains, by (request_streaming, response_streaming).
_REFUSED: dict[tuple[bool, bool], grpc.RpcMethodHandler[Any, Any]] = {
    (False, False): grpc.unary_unary_rpc_method_handler(_refuse),
    (True, False): grpc.stream_unary_rpc_method_handler(_refuse),
    (False, True): grpc.unary_stream_rpc_method_handler(_refuse),
    (True, True): grpc.stream_stream_rpc_method_handler(_refuse),
}


class _Inflating:
    """Stands for the server when health and reflection add their handlers, and adds
    them with request deserializers that decompress gzip requests first (grpcio's own
    decompression is off: calls.SERVER_OPTIONS)."""

    def __init__(self, server: grpc.Server, limit: int) -> None:
        self._server = server
        self._limit = limit

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_InflatingHandler(handler, self._inflating) for handler in handlers)
        )

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self._server.add_registered_method_handlers(
            service, {name: self._inflating(h) for name, h in handlers.items()}
        )

    def _inflating(
        self, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        deserialize = handler.request_deserializer
        if deserialize is None:
            return handler
        limit = self._limit

        def inflating_deserializer(data: bytes) -> Any:
            # One that does not inflate is given as it is: the deserializer refuses it,
            # as it refuses any malformed message.
            with contextlib.suppress(Refused):
                data = inflate(data, limit)
            return deserialize(data)

        # grpcio's handlers are namedtuples
        return cast(Any, handler)._replace(request_deserializer=inflating_deserializer)  # type: ignore[no-any-return]


class _InflatingHandler(grpc.GenericRpcHandler):
    """A generic handler whose method handlers decompress their requests first."""

    def __init__(
        self,
        inner: grpc.GenericRpcHandler,
        inflating: Callable[[grpc.RpcMethodHandler[Any, Any]], grpc.RpcMethodHandler[Any, Any]],
    ) -> None:
        self._inner = inner
        self._inflating = inflating
        self._made: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        made = self._made.get(method)
        if made is None:
            handler = self._inner.service(handler_call_details)
            if handler is None:
                return None  # not kept: any client could fill the dict with names
            made = self._made[method] = self._inflating(handler)
        return made


class _Reflection(reflection_pb2_grpc.ServerReflectionServicer):
    """Server reflection over what is served now: a reload swaps in a new description."""

    def __init__(self) -> None:
        self._current = reflection.ReflectionServicer([])

    def serve(self, services: Sequence[str], pool: descriptor_pool.DescriptorPool) -> None:
        self._current = reflection.ReflectionServicer(services, pool=pool)

    def ServerReflectionInfo(
        self,
        request_iterator: Iterable[reflection_pb2.ServerReflectionRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[reflection_pb2.ServerReflectionResponse]:
        for request in request_iterator:
            # Answered from what is served when the request comes, even on a stream
            # opened before a reload.
            yield from self._current.ServerReflectionInfo(iter((request,)), context)


def _implements(module: GuestModule, method: str) -> bool:
    """Whether `module` implements `method` rather than only exporting it: a method
    without a server answers UNIMPLEMENTED before it reads a request. Asked only when
    two modules export one method."""
    kind = module.kind(method)
    try:
        if kind == MethodKind.UNARY:
            module.call(method, b"", timeout_s=5.0)
        elif not kind.server_streaming:
            module.invoke(method, iter(()), timeout_s=5.0)
        else:
            request: bytes | Iterator[bytes] = iter(()) if kind.client_streaming else b""
            with module.stream(method, request, timeout_s=5.0) as stream:
                stream.read()  # its first answer says it; the rest is not needed
    except GuestError as exc:
        return exc.code != StatusCode.UNIMPLEMENTED
    except CallError:
        return True
    return True


def _abort(
    context: grpc.ServicerContext, method: str, exc: BridgeError | Refused | grpc.RpcError
) -> NoReturn:
    """End a failed call: with a bridge error's status, a refusal's, or CANCELLED when
    grpcio's request iterator raised (the call ended under the handler)."""
    if isinstance(exc, BridgeError):
        fail(context, exc)
    if isinstance(exc, Refused):
        context.abort(exc.code, exc.message)
    context.abort(grpc.StatusCode.CANCELLED, f"{method}: the call was cancelled")


def _answer_headers(
    context: grpc.ServicerContext,
    headers: tuple[tuple[str, str | bytes], ...],
    compression: str | None,
) -> None:
    """Send the guest's response headers, and compress its answer as it asked (before
    the headers leave: grpcio names the encoding in them). A client that does not
    accept gzip gets it uncompressed: gRPC's core sees to that."""
    if compression == "gzip":
        context.set_compression(grpc.Compression.Gzip)
    if headers:
        context.send_initial_metadata(headers)


def _answer(context: grpc.ServicerContext, reply: Reply) -> bytes:
    """A one-answer call's reply, sent with the headers and trailers the guest set."""
    _answer_headers(context, reply.headers, reply.compression)
    if reply.trailers:
        context.set_trailing_metadata(reply.trailers)
    return reply.response


def _stamp(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of the file; None when it cannot be read now (being replaced)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _services(table: Mapping[str, Generation]) -> list[str]:
    return sorted({method.partition("/")[0] for method in table})


def _one_line(exc: BaseException) -> str:
    """An error as one log line: a bridge error's own words, anything else's type too."""
    text = " ".join(str(exc).split())
    if isinstance(exc, BridgeError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _daemon(target: Callable[[], None], name: str) -> None:
    threading.Thread(target=target, name=name, daemon=True).start()


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen(options: ServeOptions) -> tuple[str, str, bool]:
    """`--listen`'s host and port, and whether it serves TLS; SidecarError for an address
    that is not HOST:PORT, half a TLS pair, or a non-loopback address without TLS and
    without `insecure` (warned about when it is allowed)."""
    listen = options.listen or ""
    host, _, port_text = listen.rpartition(":")
    if not host or not port_text.isdigit():
        raise SidecarError(f"--listen {listen!r}: give HOST:PORT, as in 127.0.0.1:50051")
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
    return host, port_text, tls


def _private_socket() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="bridge-")) / "sidecar.sock"


def claim_socket(path: Path) -> Path:
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

    def in_background(work: Callable[[], object], what: str) -> Callable[[int, object], None]:
        # Signal handlers run on the main thread: a drain must not block it there. A
        # failure is logged, and the next signal is handled the same way.
        def guarded() -> None:
            try:
                work()
            except Exception as exc:  # noqa: BLE001 - logged; the sidecar goes on
                logger.error("%s failed: %s", what, _one_line(exc))

        return lambda signum, frame: _daemon(guarded, f"bridge-serve-{what}")

    signal.signal(signal.SIGTERM, in_background(sidecar.stop, "stop"))
    signal.signal(signal.SIGINT, in_background(sidecar.stop, "stop"))
    signal.signal(signal.SIGHUP, in_background(sidecar.reload, "reload"))
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
