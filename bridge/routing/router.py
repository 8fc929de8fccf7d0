"""Router: the routed functions of a process, their settings, backends and statistics.

`bridge.route` is the decorator of the process-wide router, `bridge.routes`. Settings
are read once (config.py) and never changed in place: a flag flip (`set_mode`) or a new
configuration (`configure`) builds new plans and swaps them in, so a call in flight
finishes with the plan it started with.

Forking (gunicorn --preload): threads do not survive fork(), so a router starts again
in the child (os.register_at_fork): its shadow workers and report writer run anew, its
locks are new, and its statistics start from zero, so the child's report file (named
by its PID) counts its own calls only. Modules are made on first use; a sidecar channel
opened before the fork is gRPC's to support (GRPC_ENABLE_FORK_SUPPORT), not ours.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import functools
import inspect
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from google.protobuf.message import Message

from ..config import BridgeConfig, Mode, RouteConfig, load_config, route_problem
from ..errors import ConfigError, ShadowMismatch
from . import publish
from .binding import Binding, bind
from .compare import Comparison
from .experiment import RECORDS_KEPT, Experiment, Mismatch, Outcome, Workers, control_outcome
from .plans import BackendSlot, BridgePlan, CanaryPlan, Plan, ShadowPlan
from .stats import Recorder, Row, write_report
from .streams import (
    StreamingBridgePlan,
    StreamingCanaryPlan,
    StreamingShadowPlan,
    python_stream_outcome,
)

if TYPE_CHECKING:
    from ..sidecar.process import ManagedSidecar

__all__ = ["Route", "Router"]

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger("bridge.route")
#: How long the exit-time report waits for queued shadow candidates.
EXIT_DRAIN_S = 10.0
#: Every router of the process, for the fork hook.
_routers: weakref.WeakSet[Router] = weakref.WeakSet()


@dataclasses.dataclass(frozen=True, slots=True)
class RouteOptions:
    """What the decorator was given beyond the method: Python callables config cannot hold."""

    key: Callable[..., object] | None = None
    compare: Callable[[Message, Message], bool] | None = None
    ignore: tuple[Callable[[Mismatch], bool], ...] = ()
    redact: Callable[[Message], Message] | None = None
    errors: Mapping[int, type[Exception]] = dataclasses.field(default_factory=dict)


class Route:
    """One routed function: its binding to the rpc, its settings and its current plan."""

    def __init__(
        self, router: Router, fn: Callable[..., Any], binding: Binding, options: RouteOptions
    ) -> None:
        self.router = router
        self.fn = fn
        self.binding = binding
        self.options = options
        self.method = binding.method
        #: A generator function, routed to a server-streaming rpc (streams.py).
        self.streaming = binding.streaming
        #: An `async def`: a coroutine function, or an async generator function.
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)
        self.config = RouteConfig()
        #: None in python mode: the wrapper then calls the function and nothing else.
        self.plan: Any = None

    @property
    def mode(self) -> Mode:
        return self.config.mode

    def experiment(
        self, config: RouteConfig, recorder: Recorder, records: deque[Mismatch]
    ) -> Experiment:
        shadow = config.shadow
        return Experiment(
            self.method,
            Comparison(
                float_abs_tolerance=shadow.float_abs_tolerance,
                float_rel_tolerance=shadow.float_rel_tolerance,
                ignore_fields=frozenset(shadow.ignore_fields),
            ),
            recorder=recorder,
            records=records,
            compare=self.options.compare,
            ignore=self.options.ignore,
            redact=self.options.redact,
            strict=shadow.strict,
        )

    def replay(self, mismatch: Mismatch, *, instance: object = None) -> Mismatch | None:
        """Run a recorded request through Python and the bridge again (the bridge being
        this route's candidate); the mismatch they still show, or None if they agree.
        `instance` is the object a method is called on."""
        if mismatch.request is None:
            raise ValueError("this mismatch kept no request (redact removed it)")
        kwargs = self.binding.to_kwargs(mismatch.request)
        args = () if instance is None else (instance,)
        if self.streaming:
            control = python_stream_outcome(self.fn, args, kwargs, self.binding.to_message)
        else:
            try:
                value = self.fn(*args, **kwargs)
                if self.is_async:
                    value = asyncio.run(value)
                control = control_outcome(value, self.binding.to_message)
            except Exception as exc:  # noqa: BLE001 - compared, not raised
                control = Outcome(error=exc)
        plan = self.router.replay_plan(self)
        candidate = plan.candidate(mismatch.request, None)
        experiment = self.experiment(
            self.router.settings(self.method), Recorder(self.method, "replay", "bridge"), deque()
        )
        return experiment.compare_outcomes(mismatch.request, control, candidate)

    def __repr__(self) -> str:
        return f"<Route {self.method} mode={self.mode} fn={self.fn.__qualname__}>"


class Router:
    """The routed functions of one process and everything they share.

    >>> router = Router(BridgeConfig())
    >>> router.mode("shop.v1.Pricing/Quote")
    Mode(kind='python', percent=0.0)

    `config` is a BridgeConfig, the path of a bridge.toml or pyproject.toml, or None to
    find one (config.load_config) next to the first decorated function.
    """

    def __init__(
        self, config: BridgeConfig | str | os.PathLike[str] | None = None, *, name: str = "main"
    ) -> None:
        self.name = name
        self._config: BridgeConfig | None = config if isinstance(config, BridgeConfig) else None
        self._path = None if config is None or isinstance(config, BridgeConfig) else config
        self._routes: dict[str, Route] = {}
        self._overrides: dict[str, dict[str, Any]] = {}
        self._recorders: dict[tuple[str, str, str], Recorder] = {}
        self._records: dict[str, deque[Mismatch]] = {}
        self._slots: dict[str, BackendSlot] = {}
        self._workers = Workers()
        self._lock = threading.RLock()
        self._tracer: Any = None
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self._prometheus_registered = False
        self._closers: list[ManagedSidecar] = []
        _routers.add(self)

    # --- decorating ---------------------------------------------------------------

    def route(
        self,
        method: str,
        *,
        key: Callable[..., object] | None = None,
        to_python: Callable[[Message], Any] | None = None,
        to_message: Callable[[Any], Message] | None = None,
        compare: Callable[[Message, Message], bool] | None = None,
        ignore: Sequence[Callable[[Mismatch], bool]] = (),
        redact: Callable[[Message], Message] | None = None,
        errors: Mapping[int, type[Exception]] | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Route a legacy function through the rpc `method` (`pkg.Service/Method`).

        >>> import bridge
        >>> @bridge.route("pricing.v1.Pricing/NormalizeSku")  # doctest: +SKIP
        ... def normalize_sku(sku: str) -> str:
        ...     return "-".join(sku.split()).upper()

        The function's parameters must be the request message's fields, by name; its
        result maps to the response (a single-field response unwraps to its value; a
        dataclass, named tuple or dict return type is filled from the fields; otherwise
        the message). A generator function (sync or async) routes to a server-streaming
        rpc, each value it yields mapping to one response (streams.py). RouteError says
        what does not fit, when the decorator runs.
        Settings (mode, fallback, ...) come from configuration; see docs/migration.md.

        key: canary mode sends the same key to the same side (called with the arguments).
        to_python / to_message: convert the response to the function's result and back.
        compare: shadow equality of two response messages, instead of protobuf's.
        ignore: known-mismatch rules; a mismatch any of them accepts is only counted.
        redact: applied to a copy of the request before a mismatch record keeps it.
        errors: the exception to raise for a guest error code, so that callers keep
            catching what the legacy function raised: {StatusCode.INVALID_ARGUMENT: ValueError}.
        """
        options = RouteOptions(
            key=key, compare=compare, ignore=tuple(ignore), redact=redact, errors=dict(errors or {})
        )

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            binding = bind(fn, method, to_python=to_python, to_message=to_message)
            routed = Route(self, fn, binding, options)
            with self._lock:
                self._config_for(fn)
                self._install(routed)
                self._routes[method] = routed
            self._started()
            return _wrapper(fn, routed)

        return decorate

    # --- settings -----------------------------------------------------------------

    @property
    def config(self) -> BridgeConfig:
        """The configuration in force (read on first use)."""
        with self._lock:
            return self._config_for(None)

    def configure(self, config: BridgeConfig | str | os.PathLike[str] | None = None) -> None:
        """Read the configuration again (or use `config`) and re-plan every route, at run
        time. On ConfigError the old configuration and plans stay in force."""
        new = config if isinstance(config, BridgeConfig) else load_config(config or self._path)
        with self._lock:
            old = self._config
            self._config = new
            try:
                plans = {m: self._planned(r) for m, r in self._routes.items()}
            except ConfigError:
                self._config = old
                raise
            for method, (route_config, plan) in plans.items():
                self._routes[method].config = route_config
                self._routes[method].plan = plan

    def set_mode(self, method: str, mode: str | Mode, *, fallback: bool | None = None) -> None:
        """Flip `method` to `mode` now, over configuration and environment, until
        `reset`. ConfigError (and no change) when the mode cannot run."""
        parsed = mode if isinstance(mode, Mode) else _parse_mode(mode)
        changes: dict[str, Any] = {"mode": parsed}
        if fallback is not None:
            changes["fallback"] = fallback
        with self._lock:
            previous = self._overrides.get(method)
            self._overrides[method] = {**(previous or {}), **changes}
            try:
                if method in self._routes:
                    self._install(self._routes[method])
            except ConfigError:
                if previous is None:
                    del self._overrides[method]
                else:
                    self._overrides[method] = previous
                raise

    def reset(self, method: str | None = None) -> None:
        """Undo `set_mode` for `method` (or every method): configuration rules again."""
        with self._lock:
            for name in [method] if method else list(self._overrides):
                self._overrides.pop(name, None)
                if name in self._routes:
                    self._install(self._routes[name])

    def mode(self, method: str) -> Mode:
        """The mode `method` runs in now."""
        return self.settings(method).mode

    def settings(self, method: str) -> RouteConfig:
        """`method`'s settings in force: configuration, environment, then run-time flips."""
        with self._lock:
            config = self._config_for(None).route(method)
            return dataclasses.replace(config, **self._overrides.get(method, {}))

    def __getitem__(self, method: str) -> Route:
        return self._routes[method]

    def __iter__(self) -> Any:
        return iter(sorted(self._routes))

    # --- statistics ---------------------------------------------------------------

    def stats(self) -> list[Row]:
        """The statistics of every (method, mode, side) that saw a call so far."""
        with self._lock:
            recorders = list(self._recorders.values())
        rows = (r.snapshot() for r in recorders)
        return sorted((row for row in rows if row.calls or row.dropped), key=lambda r: r.key)

    def mismatches(self, method: str | None = None) -> list[Mismatch]:
        """The mismatch records kept (the newest 100 per method), oldest first."""
        with self._lock:
            kept = [m for name, d in self._records.items() if method in (None, name) for m in d]
        return sorted(kept, key=lambda m: m.time)

    def flush(self) -> Path | None:
        """Write this process's statistics for `bridge report`; the file, if any."""
        folder = self.config.report_dir
        if folder is None:
            return None
        rows = self.stats()
        if not rows:
            return None
        records = [m.to_json() for m in self.mismatches()]
        return write_report(folder, rows, records, name=self.name)

    def register_prometheus(self, registry: Any = None) -> None:
        """Export the statistics as Prometheus metrics (prometheus_client's default
        registry unless `registry`); done for `bridge.routes` when it is installed."""
        from prometheus_client import REGISTRY

        (registry or REGISTRY).register(publish.prometheus_collector(self.stats))

    # --- lifecycle ----------------------------------------------------------------

    def warm(self) -> None:
        """Load every module the routes need now, instead of on their first call."""
        with self._lock:
            slots = {id(p.slot): p.slot for r in self._routes.values() if (p := r.plan)}
        for slot in slots.values():
            slot.get()

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait for off-thread shadow candidates to finish; False if time ran out."""
        return self._workers.drain(timeout_s)

    def close(self) -> None:
        """Stop the shadow workers and the report writer, close the modules; safe twice.
        A routed call after this is a bridge failure: Python answers if it falls back."""
        self._stop.set()
        self._workers.close()
        with self._lock:
            for slot in self._slots.values():
                slot.close()
            for closer in self._closers:
                closer.close()

    # --- internals ----------------------------------------------------------------

    def replay_plan(self, routed: Route) -> Any:
        """A shadow plan of `routed` whose calls are not counted, whatever its mode: the
        bridge side it has now (its candidate in python mode), run inline."""
        config = self.settings(routed.method)
        config = dataclasses.replace(
            config,
            mode=Mode("shadow"),
            candidate=config.backend_kind() or config.candidate,
            shadow=dataclasses.replace(config.shadow, inline=True),
        )
        with self._lock:
            return self._plan(routed, config, scratch=True)

    def _config_for(self, fn: Callable[..., Any] | None) -> BridgeConfig:
        if self._config is None:
            start = None
            if fn is not None and (source := inspect.getsourcefile(fn)):
                start = Path(source).parent
            self._config = load_config(self._path, start=start)
            if self._config.source is None and start is not None and self._path is None:
                self._config = load_config(None)
        return self._config

    def _install(self, routed: Route) -> None:
        routed.config, routed.plan = self._planned(routed)

    def _planned(self, routed: Route) -> tuple[RouteConfig, Any]:
        config = self.settings(routed.method)
        return config, self._plan(routed, config)

    def _plan(self, routed: Route, config: RouteConfig, *, scratch: bool = False) -> Any:
        """The plan of `routed` under `config`; with `scratch`, its calls are not counted
        (a replay is not traffic)."""
        method = routed.method
        kind = config.backend_kind()
        if kind is None:
            return None
        bridge_config = self._config_for(None)
        problem = route_problem(bridge_config, method, config)
        if problem:
            raise ConfigError(f"{method}: {problem}")
        common: dict[str, Any] = {
            "fn": routed.fn,
            "binding": routed.binding,
            "slot": self._slot(kind, method, config),
            "timeout_s": config.timeout_s,
            "fallback": config.fallback,
            "errors": routed.options.errors,
        }
        mode = str(config.mode)
        streaming = routed.streaming
        plan: Plan
        if config.mode.kind in ("wasm", "sidecar"):
            plan = (StreamingBridgePlan if streaming else BridgePlan)(
                **common, recorder=self._recorder(method, mode, kind, scratch=scratch)
            )
        elif config.mode.kind == "canary":
            plan = (StreamingCanaryPlan if streaming else CanaryPlan)(
                **common,
                percent=config.mode.percent,
                key=routed.options.key,
                bridge_recorder=self._recorder(method, mode, kind, scratch=scratch),
                python_recorder=self._recorder(method, mode, "python", scratch=scratch),
            )
        else:
            shadow = config.shadow
            bridge_recorder = self._recorder(method, mode, kind, scratch=scratch)
            records: deque[Mismatch] = deque()
            if not scratch:
                records = self._records.setdefault(method, deque(maxlen=RECORDS_KEPT))
            experiment = routed.experiment(config, bridge_recorder, records)
            plan = (StreamingShadowPlan if streaming else ShadowPlan)(
                **common,
                experiment=experiment,
                workers=self._workers,
                inline=shadow.inline or shadow.strict,
                candidate_timeout_s=shadow.timeout_s,
                sample_percent=shadow.sample_percent,
                queue_size=shadow.queue_size,
                bridge_recorder=bridge_recorder,
                python_recorder=self._recorder(method, mode, "python", scratch=scratch),
            )
        if bridge_config.tracing:
            return _Traced(plan, self._get_tracer(), method, mode)
        return plan

    def _slot(self, kind: str, method: str, config: RouteConfig) -> BackendSlot:
        bridge_config = self._config_for(None)
        if kind == "wasm":
            path = bridge_config.module_for(method, config)
            assert path is not None  # route_problem() said so before any slot is made
            name = f"wasm {path}"
            runtime = bridge_config.runtime

            def make() -> Any:
                # wasmtime loads on a route's first wasm call, not with `import bridge`.
                from ..runtime.module import load

                return load(path, runtime)

        else:
            sidecar = bridge_config.sidecar
            name = f"sidecar {sidecar.target or 'managed'}"

            def make() -> Any:
                # grpc loads on a route's first sidecar call, not with `import bridge`.
                from ..sidecar.client import SidecarBackend
                from ..sidecar.process import ManagedSidecar

                if sidecar.target is not None:
                    return SidecarBackend(sidecar.target, timeout_s=sidecar.timeout_s)
                # managed: started on first use, stopped with the router; its calls wait
                # out a restart (up to their deadline) instead of failing at once
                modules = sorted(set(bridge_config.services.values()))
                managed = ManagedSidecar(
                    modules, workers=sidecar.workers, processes=sidecar.processes
                ).start()
                self._closers.append(managed)
                return SidecarBackend(
                    managed.target, timeout_s=sidecar.timeout_s, wait_for_ready=True
                )

        slot = self._slots.get(name)
        if slot is None:
            slot = self._slots[name] = BackendSlot(name, make)
        return slot

    def _recorder(self, method: str, mode: str, side: str, *, scratch: bool = False) -> Recorder:
        if scratch:
            return Recorder(method, mode, side)
        key = (method, mode, side)
        recorder = self._recorders.get(key)
        if recorder is None:
            recorder = self._recorders[key] = Recorder(method, mode, side)
        return recorder

    def _get_tracer(self) -> Any:
        if self._tracer is None:
            self._tracer = publish.tracer()
        return self._tracer

    def _started(self) -> None:
        """On the first route: the report writer, and Prometheus for the process router."""
        with self._lock:
            if self.name == "main" and not self._prometheus_registered and publish.has_prometheus():
                self._prometheus_registered = True
                self.register_prometheus()
            if self._flusher is not None or self.config.report_dir is None:
                return
            self._start_flusher()
        atexit.register(self._flush_at_exit)

    def _start_flusher(self) -> None:
        self._flusher = threading.Thread(
            target=self._flush_every, name=f"bridge-report-{self.name}", daemon=True
        )
        self._flusher.start()

    def _after_fork(self) -> None:
        """In a forked child: new locks (a parent thread may have held one at the fork),
        new threads, statistics from zero; the parent's managed sidecar stays the
        parent's to stop. The exit-time report (atexit) carries over."""
        self._lock = threading.RLock()
        self._workers.after_fork()
        for recorder in self._recorders.values():
            recorder.after_fork()
        for records in self._records.values():
            records.clear()
        for slot in self._slots.values():
            slot.after_fork()
        self._closers = []
        stopped = self._stop.is_set()
        self._stop = threading.Event()
        if stopped:
            self._stop.set()
        elif self._flusher is not None:
            self._start_flusher()

    def _flush_every(self) -> None:
        interval = self.config.report_interval_s
        while not self._stop.wait(interval):
            self._flush_quietly()

    def _flush_at_exit(self) -> None:
        # Candidates still queued would be lost (and a clean report would lie).
        if not self.drain(EXIT_DRAIN_S):
            logger.warning("shadow candidates still queued at exit were not compared")
        self._flush_quietly()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except OSError as exc:
            logger.warning("cannot write the bridge report: %s", exc)


class _Traced:
    """A plan inside an OpenTelemetry span."""

    def __init__(self, plan: Any, tracer: Any, method: str, mode: str) -> None:
        self.plan = plan
        self.tracer = tracer
        self.attributes = {"rpc.system": "bridge", "rpc.method": method, "bridge.mode": mode}
        self.name = method
        self.slot = plan.slot
        self.streaming = getattr(plan, "streaming", False)

    def __call__(self, args: Any, kwargs: Any) -> Any:
        if self.streaming:
            return self._stream(self.plan(args, kwargs))
        with self.tracer.start_as_current_span(self.name, attributes=self.attributes):
            return self.plan(args, kwargs)

    def call_async(self, args: Any, kwargs: Any) -> Any:
        if self.streaming:
            return self._stream_async(self.plan.call_async(args, kwargs))
        return self._call_async(args, kwargs)

    async def _call_async(self, args: Any, kwargs: Any) -> Any:
        with self.tracer.start_as_current_span(self.name, attributes=self.attributes):
            return await self.plan.call_async(args, kwargs)

    # A stream's span runs from its first message asked for to its end. It is not made
    # the current span: the caller's code runs between messages, and must not find
    # itself inside the bridge's span.
    def _stream(self, stream: Any) -> Any:
        span = None
        try:
            span = self.tracer.start_span(self.name, attributes=self.attributes)
            yield from stream
        except Exception as exc:
            _span_failed(span, exc)
            raise
        finally:
            if span is not None:
                span.end()

    async def _stream_async(self, stream: Any) -> Any:
        span = None
        try:
            span = self.tracer.start_span(self.name, attributes=self.attributes)
            async with contextlib.aclosing(stream):
                async for value in stream:
                    yield value
        except Exception as exc:
            _span_failed(span, exc)
            raise
        finally:
            if span is not None:
                span.end()

    def candidate(self, request: Any, error: Any) -> Any:
        return self.plan.candidate(request, error)


def _span_failed(span: Any, exc: Exception) -> None:
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def _after_fork_in_child() -> None:
    for router in list(_routers):
        router._after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _wrapper(fn: Callable[P, R], routed: Route) -> Callable[P, R]:
    """The function callers get: in python mode, one attribute read and the original."""
    if routed.streaming:
        return _stream_wrapper(fn, routed)
    if routed.is_async:

        async def routed_async(*args: Any, **kwargs: Any) -> Any:
            plan = routed.plan
            if plan is None:
                return await fn(*args, **kwargs)  # type: ignore[misc]
            try:
                return await plan.call_async(args, kwargs)
            except ShadowMismatch as exc:
                if _raised_by(exc, routed):
                    raise _from_the_caller(exc) from None
                raise

        wrapper: Any = routed_async
    else:

        def routed_sync(*args: Any, **kwargs: Any) -> Any:
            plan = routed.plan
            if plan is None:
                return fn(*args, **kwargs)
            try:
                return plan(args, kwargs)
            except ShadowMismatch as exc:
                if _raised_by(exc, routed):
                    raise _from_the_caller(exc) from None
                raise

        wrapper = routed_sync
    functools.update_wrapper(wrapper, fn)
    wrapper.__bridge_route__ = routed
    return wrapper  # type: ignore[no-any-return]


def _stream_wrapper(fn: Callable[P, R], routed: Route) -> Callable[P, R]:
    """A generator function's wrapper: a plain function that returns the stream (in
    python mode, the original's own generator, untouched). Strict shadow's mismatch is
    raised by the stream itself, at its end (streams.py)."""
    if routed.is_async:

        def routed_stream_async(*args: Any, **kwargs: Any) -> Any:
            plan = routed.plan
            if plan is None:
                return fn(*args, **kwargs)
            return plan.call_async(args, kwargs)

        wrapper: Any = routed_stream_async
    else:

        def routed_stream(*args: Any, **kwargs: Any) -> Any:
            plan = routed.plan
            if plan is None:
                return fn(*args, **kwargs)
            return plan(args, kwargs)

        wrapper = routed_stream
    functools.update_wrapper(wrapper, fn)
    wrapper.__bridge_route__ = routed
    return wrapper  # type: ignore[no-any-return]


def _raised_by(exc: ShadowMismatch, routed: Route) -> bool:
    """Whether `exc` is this route's own mismatch, not one of a routed function that
    its Python code called (whose frames through that code are worth keeping)."""
    return getattr(exc.mismatch, "method", None) == routed.method


def _from_the_caller(exc: ShadowMismatch) -> ShadowMismatch:
    """Strict mode's mismatch without the frames of the plan and the comparison, and
    without Python's exception as its context: the caller's traceback ends at the
    routed call, under the message that says what differs."""
    exc.__context__ = None
    return exc.with_traceback(None)


def _parse_mode(text: str) -> Mode:
    try:
        return Mode.parse(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
