"""`bridge bench`: one small call timed side by side, each way it can be made, in one process.

The call is `pricing.v1.Pricing/Quote` (proto/examples/pricing/v1/pricing.proto). Every
figure goes the whole way from a `QuoteRequest` message to a `QuoteResponse` message: the
caller encodes the request, the callee decodes it, prices the line and encodes the
response, and the caller decodes that. Only the callee and the road to it differ:

- `python`: a plain Python function doing the work (Python protobuf on both sides);
- `bridge_gen_rust`, `bridge_gen_go`: the headline, what users get: guests that
  `bridge init` + `bridge gen` make for the schema, in Rust and in Go, with Quote written
  on the generated types (bridge/bench_guests.py), through `bridge.load(path).call`;
- `wasmtime_naive`: the Rust guest (examples/rust-pricing) through wasmtime-py's public
  API, marshalled naively on each call (`malloc`, `memory.write`, call, `memory.read`,
  `free`);
- `bridge`: the same guest through `bridge.load(path).call(method, bytes)`;
- `extism`: the same Rust handler built as an Extism plugin (bench/extism-pricing),
  called through the Extism Python SDK, when it is installed;
- `legacy`, `route_python`, `route_wasm`: a legacy Python function taking the request's
  fields as arguments and returning the response message, undecorated, then under
  `@route` in `python` mode, then in `wasm` mode (the same Rust guest): the decorator's
  own cost is `route_python - legacy` and `route_wasm - bridge_args`;
- `bridge_args`: what `route_wasm` does, written by hand: the request built from the
  same arguments, `bridge.load(path).call(method, bytes)`, the response parsed.

With `sidecar=True` (`bridge bench --sidecar`), six more figures time the same call over
gRPC, from this process to a server in another one: `sidecar_uds` and `sidecar_tcp` are
`bridge serve` of the Rust guest on a unix socket and on loopback TCP, `sidecar_p2_uds`
and `sidecar_p2_tcp` the same with `--processes 2` (two sockets; one port shared with
SO_REUSEPORT), `grpc_bare_uds` and `grpc_bare_tcp` a bare grpcio server in one process
whose handler returns the reference response (see `serve_bare`), with as many threads
and the same options. Every figure uses the same client, a channel and `unary_unary` with
bytes, one call at a time (to one worker of two, as a thread of bridge's client keeps
to one); the six are timed in interleaved rounds so that the machine's drift falls on
all of them alike. The same servers are then loaded by `SIDECAR_CLIENTS` client
processes at once, each calling through CLIENT_CONNECTIONS channels of its own in turn
(see `throughput_client`), and their calls per second are the `throughput` figures
(`sidecar_uds_8`, ...).

With `streaming=True` (`bridge bench --streaming`), three more figures time a
server-streaming call, `routeguide.RouteGuide/ListFeatures` of the Go guest
examples/go-routeguide answering 10,000 `Feature` messages (a Go toolchain is needed;
without one they are skipped with the reason): `stream_bridge` reads them in-process
through `bridge.load(path).stream(method, bytes)`, `stream_sidecar_uds` from `bridge
serve` of the guest, and `stream_grpc_bare_uds` from a bare grpcio server whose
handler yields the same messages pre-encoded (see `serve_bare`), both over a unix
socket with a grpcio client reading bytes. Each is timed a whole stream at a time, in
interleaved rounds, per message and in messages per second (see `measure_streaming`).

With `deadlines=True` (`bridge bench --deadlines`), the `deadlines` figures time how
deadlines hold beside CPU-busy Python threads: a guest method that loops forever
(`LOOP_WAT`, a hand-written module compiled at run time) called with a deadline while
0, 1 and 3 threads spin in pure Python (`deadline_busy_0`, ...). Per figure, the median
and the longest of how late the caller got DeadlineExceeded, and of how long the guest
itself ran past the deadline, which the budget `deadline_overrun_busy_3` limits.

A figure is a registered function (see `figure`) that sets its callee up and yields a
call; new figures register the same way. Each call is timed on its own with
`time.perf_counter_ns` after a warm-up, with the garbage collector off while timing, and
a figure reports the median and the 99th percentile. Before timing, every figure's
answer must equal the Python reference byte for byte. The figures are timed in
FIGURE_ROUNDS interleaved rounds (`measure_figures`), and a budget's verdict is "met",
"missed" or "unresolved (noise)" from the spread of its value across the rounds
(`BudgetCheck.verdict`).

A default run also times calls made in parallel (bridge/bench_parallel.py): 1, 2 and 4
threads calling one module of the generated Go guest, with calls of ~5 us and of ~45 us
(`threads_short_N`, `threads_long_N`), and 1 and 2 workers forked after the module was
loaded, as a pre-forking server does (`forked_N`); and the cold start: `import bridge`
in a fresh process, and the first call after `bridge build` (`import_bridge`,
`first_call_after_build`).

The guests are built from the sources bridge ships (examples/rust-pricing,
bench/extism-pricing and examples/go-routeguide, in the wheel as in a checkout), copied
into the user's cache (`~/.cache/bridge/bench`), so the benchmark runs from any folder
of an installed bridge.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import importlib.metadata
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from ._version import __version__
from .bench_parallel import THREAD_COUNTS, ColdStart, Parallel
from .errors import CallError, ProjectError, SidecarError, ToolchainError
from .resources import copy_out, source_root, user_cache_dir

if TYPE_CHECKING:
    import grpc

    from .runtime import GuestModule

__all__ = [
    "BUDGETS",
    "FIGURES",
    "BenchResult",
    "Budget",
    "BudgetCheck",
    "ColdStart",
    "Context",
    "DeadlineFigure",
    "Figure",
    "FigureSkipped",
    "Measurement",
    "Parallel",
    "SIDECAR_FIGURES",
    "STREAM_FIGURES",
    "SidecarFigure",
    "StreamFigure",
    "StreamMeasurement",
    "Throughput",
    "busy_threads",
    "figure",
    "list_features",
    "measure_deadlines",
    "measure_sidecar",
    "measure_streaming",
    "percentile",
    "run_bench",
    "serve_bare",
    "stream_rectangle",
    "stream_reference",
    "throughput_client",
]

QUOTE_METHOD = "pricing.v1.Pricing/Quote"
# Relative to the source root (resources.source_root: the wheel's bridge/_sources or a checkout).
PRICING_PROTO = Path("proto/examples/pricing/v1/pricing.proto")
GUEST_PROJECTS = {
    "rust-pricing": Path("examples/rust-pricing"),
    "extism-pricing": Path("bench/extism-pricing"),
    "go-routeguide": Path("examples/go-routeguide"),  # the streaming figures' guest
}
# What the guests' builds read: the projects and the SDKs their Cargo.toml or go.mod
# points at.
GUEST_SOURCES = ("guest-rust", "guest-go", *map(str, GUEST_PROJECTS.values()))

# Without --iterations each figure runs this long (after the warm-up) or this many calls.
DEFAULT_SECONDS = 1.5
MAX_CALLS = 300_000
WARM_UP_SECONDS = 0.2
WARM_UP_MAX_CALLS = 2_000
# The figures are timed in this many interleaved rounds (each a share of the time).
FIGURE_ROUNDS = 7
# Calls between two looks at the clock when timing for a duration.
BATCH = 100

# The sidecar figures (--sidecar): concurrent clients of the throughput figures (each a
# process of its own, with CLIENT_CONNECTIONS channels it calls through in turn: one, as
# bridge's client has one per process and target; more cost every server CPU), threads
# of both servers' pools, interleaved rounds, each throughput figure's duration (without
# --iterations), the longest a server may take to say it is ready, each call's deadline.
SIDECAR_CLIENTS = 8
CLIENT_CONNECTIONS = 1
SIDECAR_WORKERS = 8
SIDECAR_ROUNDS = 10
THROUGHPUT_SECONDS = 1.5
SERVER_START_TIMEOUT_S = 60.0
SIDECAR_CALL_TIMEOUT_S = 10.0
TRANSPORTS = ("uds", "tcp")

# The streaming figures (--streaming): the method, the schema its messages are read from
# (the one `bridge gen` wrote into the guest), the guest's map (examples/go-routeguide
# main.go: a feature every STREAM_SPACING on a STREAM_GRID x STREAM_GRID grid), the
# messages of each stream, the streams each figure is timed on, and each stream's deadline.
STREAM_METHOD = "routeguide.RouteGuide/ListFeatures"
STREAM_GUEST = "go-routeguide"
ROUTEGUIDE_SCHEMA = GUEST_PROJECTS[STREAM_GUEST] / "bridgegen" / "bridge-schema.binpb"
STREAM_GRID = 100
STREAM_SPACING = 1000
STREAM_MESSAGES = STREAM_GRID * STREAM_GRID
STREAM_ROUNDS = 6
STREAM_CALL_TIMEOUT_S = 60.0

# About 100 bytes encoded: a SKU with the whitespace the guest normalises, a quantity
# with the volume discount, so that every field and the note are in the response.
BENCH_REQUEST = {
    "sku": "  acme  industrial widget\tdeluxe 3000 series, blue anodised aluminium xl lefthand ",
    "quantity": 12,
    "unit_price_cents": 129_999,
    "currency": "EUR",
}

ProgressFn = Callable[[str], contextlib.AbstractContextManager[None]]
BytesCall = Callable[[bytes], bytes]
MessageCall = Callable[[Message], Message]


class FigureSkipped(Exception):
    """A figure cannot run on this machine; `reason` says what to do about it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------
# The registry of figures.


@dataclass(frozen=True)
class Figure:
    """One way of making the call.

    `setup(ctx)` is a context manager that prepares the callee (building, loading) and
    yields the call: bytes to bytes (the request's encoding and the response's decoding
    are then timed around it), or message to message when `messages` is true (the figure
    encodes and decodes itself, as a decorator would). It raises FigureSkipped when the
    figure cannot run here.
    """

    name: str
    description: str
    setup: Callable[[Context], contextlib.AbstractContextManager[Callable[[Any], Any]]]
    messages: bool = False


FIGURES: dict[str, Figure] = {}


def figure(
    name: str, description: str, *, messages: bool = False
) -> Callable[[Callable[[Context], Iterator[Callable[[Any], Any]]]], Figure]:
    """Register a generator function `(ctx) -> Iterator[call]` as the figure `name`."""

    def register(generator: Callable[[Context], Iterator[Callable[[Any], Any]]]) -> Figure:
        if name in FIGURES:
            raise ValueError(f"a figure named {name!r} is already registered")
        made = Figure(name, description, contextlib.contextmanager(generator), messages)
        FIGURES[name] = made
        return made

    return register


# ---------------------------------------------------------------------------
# What the figures share: the shipped sources, the built guests, the messages.


def _require_sources(root: Path) -> None:
    needed = [PRICING_PROTO, ROUTEGUIDE_SCHEMA]
    needed += [
        project / ("go.mod" if name.startswith("go-") else "Cargo.toml")
        for name, project in GUEST_PROJECTS.items()
    ]
    missing = [path for path in needed if not (root / path).is_file()]
    if missing:
        raise ProjectError(
            f"bridge bench builds its guests from the sources bridge ships, and "
            f"{root / missing[0]} is missing: reinstall bridge "
            "(pip install --force-reinstall bridge-wasm)",
            path=str(root),
        )


def _no_progress(message: str) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


class Context:
    """The shipped sources, the cache directory, the guests built on first use, the messages.

    The guests are built from a copy of the sources in the user's cache (`cache`), never
    inside the installation, which may be read-only.
    """

    def __init__(
        self, root: Path, progress: ProgressFn = _no_progress, cache: Path | None = None
    ) -> None:
        _require_sources(root)
        self.root = root
        self.cache = cache or user_cache_dir() / "bench"
        self.progress = progress
        self._built: dict[str, Path] = {}
        self._sources: Path | None = None
        self.request_type, self.response_type = _pricing_messages(root / PRICING_PROTO, self.cache)
        self.request: Message = self.request_type(**BENCH_REQUEST)

    def guest(self, name: str) -> Path:
        """The module of the guest project `name` (see GUEST_PROJECTS), built once per run."""
        if name not in self._built:
            from .guest.build import build

            relative = GUEST_PROJECTS[name]
            if self._sources is None:  # one copy per run serves every guest
                self._sources = copy_out(GUEST_SOURCES, self.cache / "src")
            sources = self._sources
            with self.progress(f"building {relative} ..."):
                result = build(sources / relative, self.cache / f"{name}.wasm")
            self._built[name] = result.output
        return self._built[name]

    def generated(self, language: str) -> Path:
        """The guest `bridge init` + `bridge gen` make for the pricing schema in `language`
        ("go" or "rust"; bridge/bench_guests.py), built once per run. FigureSkipped when
        its toolchain is missing."""
        key = f"generated-{language}"
        if key not in self._built:
            from .bench_guests import make_project
            from .guest.build import build

            proto = self.root / PRICING_PROTO
            project = self.cache / "generated" / f"pricing_{language}"
            try:
                with self.progress(f"bridge init + gen: the {language} guest ..."):
                    make_project(language, proto, proto.parents[2], project)
                with self.progress(f"building the generated {language} guest ..."):
                    result = build(project, self.cache / f"generated-{language}.wasm")
            except ToolchainError as exc:
                raise FigureSkipped(f"the generated {language} guest needs {exc}") from exc
            self._built[key] = result.output
        return self._built[key]

    @functools.cached_property
    def routeguide(self) -> dict[str, type[Message]]:
        """The route guide's messages by short name (`Rectangle`, `Point`, `Feature`),
        from the schema `bridge gen` wrote into the guest, in a private pool."""
        files = descriptor_pb2.FileDescriptorSet.FromString(
            (self.root / ROUTEGUIDE_SCHEMA).read_bytes()
        )
        pool = descriptor_pool.DescriptorPool()
        for file in files.file:
            pool.Add(file)
        return {
            name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"routeguide.{name}"))
            for name in ("Rectangle", "Point", "Feature")
        }


def _pricing_messages(proto: Path, cache: Path) -> tuple[type[Message], type[Message]]:
    """QuoteRequest and QuoteResponse, compiled from the .proto into a private pool.

    A private descriptor pool keeps the benchmark's classes apart from any pricing_pb2 the
    process imports.
    """
    from grpc_tools import protoc

    cache.mkdir(parents=True, exist_ok=True)
    descriptor_set = cache / "pricing.binpb"
    include = proto.parents[2]  # proto/examples: the file is pricing/v1/pricing.proto
    status = protoc.main(
        ["protoc", f"-I{include}", f"--descriptor_set_out={descriptor_set}", str(proto)]
    )
    if status != 0:
        raise ProjectError(f"grpc_tools.protoc failed on {proto}", path=str(proto))
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("pricing.v1.QuoteRequest")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("pricing.v1.QuoteResponse")),
    )


# ---------------------------------------------------------------------------
# The figures.

_SKU_SPACE = re.compile("[ \t\n\r\x0b\x0c]+")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_INT64_MAX = 2**63 - 1


def normalize_sku(sku: str) -> str:
    r"""The guest's canonical SKU: split on ASCII whitespace, joined with `-`, ASCII upper case.

    >>> normalize_sku("  pear\t\t2\n"), normalize_sku("a\x0bb\x0cc")
    ('PEAR-2', 'A-B-C')
    >>> normalize_sku("\xe4pfel x"), normalize_sku("a\x1cb")
    ('äPFEL-X', 'A\x1cB')
    """
    # str.split() and str.upper() are the idiom and fast, but split on \x1c-\x1f and
    # Unicode spaces too and upper-case beyond ASCII: the exact way serves other SKUs.
    if sku.isascii() and not ("\x1c" in sku or "\x1d" in sku or "\x1e" in sku or "\x1f" in sku):
        return "-".join(sku.split()).upper()
    return "-".join(part for part in _SKU_SPACE.split(sku) if part).translate(_ASCII_UPPER)


def quote_fields(sku: str, quantity: int, unit_price_cents: int, currency: str) -> dict[str, Any]:
    """The Quote of examples/rust-pricing in plain Python: the response's fields."""
    sku = normalize_sku(sku)
    if not sku:
        raise ValueError("sku is required")
    if quantity == 0:
        raise ValueError("quantity must be at least 1")
    if unit_price_cents < 0:
        raise ValueError("unit_price_cents must not be negative")
    subtotal = unit_price_cents * quantity
    if subtotal > _INT64_MAX:
        raise ValueError("subtotal overflows int64")
    discount = subtotal // 10 if quantity >= 10 else 0
    return {
        "sku": sku,
        "subtotal_cents": subtotal,
        "discount_cents": discount,
        "total_cents": subtotal - discount,
        "currency": currency or "USD",
        "notes": ["volume discount 10%"] if discount > 0 else [],
    }


def python_quote(
    request_type: type[Message], response_type: type[Message], request: bytes
) -> bytes:
    """The Quote of examples/rust-pricing in plain Python: request bytes to response bytes."""
    req: Any = request_type.FromString(request)
    fields = quote_fields(req.sku, req.quantity, req.unit_price_cents, req.currency)
    return response_type(**fields).SerializeToString()


@figure("python", "plain Python doing the same work")
def _python(ctx: Context) -> Iterator[BytesCall]:
    yield functools.partial(python_quote, ctx.request_type, ctx.response_type)


def _generated(ctx: Context, language: str) -> Iterator[BytesCall]:
    from .runtime import load

    with load(ctx.generated(language)) as guest:
        yield functools.partial(guest.call, QUOTE_METHOD)


@figure("bridge_gen_rust", "bridge, the Rust guest of bridge init + gen (the user's path)")
def _bridge_gen_rust(ctx: Context) -> Iterator[BytesCall]:
    yield from _generated(ctx, "rust")


@figure("bridge_gen_go", "bridge, the Go guest of bridge init + gen (the user's path)")
def _bridge_gen_go(ctx: Context) -> Iterator[BytesCall]:
    yield from _generated(ctx, "go")


@figure("wasmtime_naive", "wasmtime-py public API: malloc, write, call, read, free")
def _wasmtime_naive(ctx: Context) -> Iterator[BytesCall]:
    import wasmtime

    path = ctx.guest("rust-pricing")
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    instance = wasmtime.Instance(store, wasmtime.Module.from_file(engine, str(path)), [])
    exports = instance.exports(store)
    malloc, free, method = (exports[name] for name in ("malloc", "free", QUOTE_METHOD))
    memory = exports["memory"]
    assert isinstance(malloc, wasmtime.Func) and isinstance(free, wasmtime.Func)
    assert isinstance(method, wasmtime.Func) and isinstance(memory, wasmtime.Memory)

    def call(request: bytes) -> bytes:
        size = len(request)
        request_ptr = malloc(store, size)
        memory.write(store, request, request_ptr)
        result = method(store, request_ptr, size) & 0xFFFF_FFFF_FFFF_FFFF
        ptr, length = result & 0xFFFF_FFFF, (result >> 32) & 0x3FFF_FFFF
        if result >> 63:
            raise CallError("the guest answered an error", method=QUOTE_METHOD)
        response = bytes(memory.read(store, ptr, ptr + length))
        if not (result >> 62) & 1 and ptr:
            free(store, ptr)
        free(store, request_ptr)
        return response

    yield call


@figure("bridge", "bridge.load(path).call(method, bytes), the hand-written Rust guest")
def _bridge(ctx: Context) -> Iterator[BytesCall]:
    from .runtime import load

    with load(ctx.guest("rust-pricing")) as guest:
        yield functools.partial(guest.call, QUOTE_METHOD)


@figure("extism", "Extism Python SDK, the same handler as an Extism plugin")
def _extism(ctx: Context) -> Iterator[BytesCall]:
    extism = load_extism()
    wasm = ctx.guest("extism-pricing").read_bytes()
    with extism.Plugin(wasm, wasi=False, functions=[]) as plugin:
        yield functools.partial(plugin.call, "quote")


EXTISM_MISSING = "the Extism Python SDK is not installed: pip install extism"


def _legacy_quote(ctx: Context) -> tuple[Callable[..., Any], tuple[object, ...]]:
    """The legacy function of the route figures, and the bench request as its arguments.

    `@route` finds the rpc in protobuf's default pool, so this uses classes generated
    into it (grpcio-tools' own output, which any other import of the file matches).
    """
    response_type = _default_pool_module(ctx).QuoteResponse

    def quote(sku: str, quantity: int, unit_price_cents: int, currency: str) -> Message:
        return response_type(**quote_fields(sku, quantity, unit_price_cents, currency))  # type: ignore[no-any-return]

    request: Any = ctx.request
    return quote, (request.sku, request.quantity, request.unit_price_cents, request.currency)


def _default_pool_module(ctx: Context) -> Any:
    import importlib.util

    from grpc_tools import protoc

    out = ctx.cache / "python"
    out.mkdir(parents=True, exist_ok=True)
    include = (ctx.root / PRICING_PROTO).parents[2]
    status = protoc.main(
        ["protoc", f"-I{include}", f"--python_out={out}", str(ctx.root / PRICING_PROTO)]
    )
    if status != 0:
        raise ProjectError(f"grpc_tools.protoc failed on {PRICING_PROTO}", path=str(out))
    path = out / PRICING_PROTO.relative_to("proto/examples").with_name("pricing_pb2.py")
    spec = importlib.util.spec_from_file_location("_bridge_bench_pricing_pb2", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _routed_quote(ctx: Context, mode: str) -> Iterator[MessageCall]:
    from .config import BridgeConfig
    from .routing import Router

    quote, args = _legacy_quote(ctx)
    services = {QUOTE_METHOD.partition("/")[0]: ctx.guest("rust-pricing")}
    router = Router(BridgeConfig(services=services), name="bench")
    try:
        routed = router.route(QUOTE_METHOD)(quote)
        router.set_mode(QUOTE_METHOD, mode)
        router.warm()
        yield lambda _request: routed(*args)
    finally:
        router.close()


@figure("bridge_args", "by hand: request from arguments, bridge's call, parse", messages=True)
def _bridge_args(ctx: Context) -> Iterator[MessageCall]:
    from .runtime import load

    module = _default_pool_module(ctx)
    request_type, response_type = module.QuoteRequest, module.QuoteResponse
    sku, quantity, unit_price_cents, currency = _legacy_quote(ctx)[1]
    with load(ctx.guest("rust-pricing")) as guest:
        call = guest.call

        def by_hand(_request: Message) -> Message:
            request = request_type(
                sku=sku, quantity=quantity, unit_price_cents=unit_price_cents, currency=currency
            )
            return response_type.FromString(call(QUOTE_METHOD, request.SerializeToString()))  # type: ignore[no-any-return]

        yield by_hand


@figure("legacy", "a legacy Python function: arguments in, message out", messages=True)
def _legacy(ctx: Context) -> Iterator[MessageCall]:
    quote, args = _legacy_quote(ctx)
    yield lambda _request: quote(*args)


@figure("route_python", "the legacy function under @route, python mode", messages=True)
def _route_python(ctx: Context) -> Iterator[MessageCall]:
    yield from _routed_quote(ctx, "python")


@figure(
    "route_wasm", "the legacy function under @route, wasm mode (the guest answers)", messages=True
)
def _route_wasm(ctx: Context) -> Iterator[MessageCall]:
    yield from _routed_quote(ctx, "wasm")


def load_extism() -> Any:
    """The `extism` module, or FigureSkipped saying how to install it."""
    try:
        return importlib.import_module("extism")
    except ImportError as exc:
        raise FigureSkipped(EXTISM_MISSING) from exc


# ---------------------------------------------------------------------------
# Budgets (docs/performance.md, "Budgets": the numbers and why).


@dataclass(frozen=True)
class Budget:
    """A limit on a median, on what `of` adds to `minus`'s median, on a speed-up of `of`
    over `over`, or on a ratio to `ratio_to`: of medians (at most `limit`), or with
    `throughput` of calls per second (at least `limit`), or with `streaming` of the
    streaming figures' messages per second (at least `limit`). A `sidecar` budget is
    checked only in a run with the sidecar figures, a `streaming` one only in a run with
    the streaming figures; a `deadline` budget limits the longest a guest ran past its
    deadline in the deadline figure `of` (ms), in a run with them. A `parallel` budget is
    a ratio of the parallel figures' calls per second (threads, forked workers; at least
    `limit`); a `cold` budget limits a cold-start figure's median (ms).

    Figures timed in interleaved rounds give the measured value per round too; the
    verdict then comes from their spread (see `BudgetCheck.verdict`)."""

    name: str
    of: str
    limit: float
    over: str = ""
    minus: str = ""
    ratio_to: str = ""
    throughput: bool = False
    sidecar: bool = False
    deadline: bool = False
    streaming: bool = False
    parallel: bool = False
    cold: bool = False

    @property
    def text(self) -> str:
        if self.cold:
            return f"{self.of} <= {self.limit:g} ms (median)"
        if self.deadline:
            return f"{self.of}: the guest runs <= {self.limit:g} ms past its deadline (max)"
        if self.over:
            return f"{self.of} >= {self.limit:g}x faster than {self.over} (median)"
        if self.minus:
            return f"{self.of} adds <= {self.limit:g} us to {self.minus} (median)"
        if self.ratio_to and self.throughput:
            return f"{self.of} >= {self.limit:g}x {self.ratio_to} (calls/s)"
        if self.ratio_to and self.streaming:
            return f"{self.of} >= {self.limit:g}x {self.ratio_to} (messages/s)"
        if self.ratio_to and self.parallel:
            return f"{self.of} >= {self.limit:g}x {self.ratio_to} (calls/s)"
        if self.ratio_to:
            return f"{self.of} <= {self.limit:g}x {self.ratio_to} (median)"
        return f"{self.of} median <= {self.limit:g} us"

    @property
    def unit(self) -> str:
        if self.deadline or self.cold:
            return "ms"
        return "x" if self.over or self.ratio_to else "us"

    def check(
        self,
        figures: dict[str, Measurement],
        throughput: dict[str, Throughput] | None = None,
        deadlines: dict[str, DeadlineFigure] | None = None,
        streams: dict[str, StreamMeasurement] | None = None,
        *,
        rounds: dict[str, list[float]] | None = None,
        parallel: dict[str, Parallel] | None = None,
        cold: dict[str, ColdStart] | None = None,
    ) -> BudgetCheck:
        """The measured value, and its spread across rounds where the figures have
        `rounds` (each figure's median per round, us) or are `parallel` figures."""
        if self.cold:
            found_cold = (cold or {}).get(self.of)
            if found_cold is None:
                return BudgetCheck(self, None)
            return BudgetCheck(self, found_cold.ms, _spread(found_cold.runs))
        if self.parallel:
            found = parallel or {}
            if self.of not in found or self.ratio_to not in found:
                return BudgetCheck(self, None)
            of, to = found[self.of].rounds, found[self.ratio_to].rounds
            per_round = [a / b for a, b in zip(of, to, strict=True) if b > 0]
            measured = found[self.of].calls_per_s / found[self.ratio_to].calls_per_s
            return BudgetCheck(self, measured, _spread(per_round))
        check = self._check(figures, throughput, deadlines, streams)
        needed = [name for name in (self.of, self.over, self.minus, self.ratio_to) if name]
        if check.measured is None or self.throughput or self.streaming or self.deadline:
            return check
        if rounds and all(len(rounds.get(name, ())) > 1 for name in needed):
            count = min(len(rounds[name]) for name in needed)
            per_round = [
                self._value(**{name: rounds[name][i] for name in set(needed)}) for i in range(count)
            ]
            return BudgetCheck(self, check.measured, _spread(per_round))
        return check

    def _value(self, **medians: float) -> float:
        """The measured value from the medians of the figures it needs (by name)."""
        if self.over:
            return medians[self.over] / medians[self.of]
        if self.minus:
            return medians[self.of] - medians[self.minus]
        if self.ratio_to:
            return medians[self.of] / medians[self.ratio_to]
        return medians[self.of]

    def _check(
        self,
        figures: dict[str, Measurement],
        throughput: dict[str, Throughput] | None,
        deadlines: dict[str, DeadlineFigure] | None,
        streams: dict[str, StreamMeasurement] | None,
    ) -> BudgetCheck:
        if self.deadline:
            found = (deadlines or {}).get(self.of)
            return BudgetCheck(self, None if found is None else found.overrun_max_ms)
        if self.throughput or self.streaming:
            rates = (
                {name: m.messages_per_s for name, m in (streams or {}).items()}
                if self.streaming
                else {name: t.calls_per_s for name, t in (throughput or {}).items()}
            )
            if self.of not in rates or self.ratio_to not in rates:
                return BudgetCheck(self, None)
            measured = rates[self.of] / rates[self.ratio_to]
            if self.throughput and throughput:
                of, to = throughput[self.of].rounds, throughput[self.ratio_to].rounds
                per_round = [a / b for a, b in zip(of, to, strict=False) if b > 0]
                return BudgetCheck(self, measured, _spread(per_round))
            return BudgetCheck(self, measured)
        needed = [name for name in (self.of, self.over, self.minus, self.ratio_to) if name]
        if any(name not in figures for name in needed):
            return BudgetCheck(self, None)
        if self.over:
            measured = figures[self.over].median_us / figures[self.of].median_us
        elif self.minus:
            measured = figures[self.of].median_us - figures[self.minus].median_us
        elif self.ratio_to:
            measured = figures[self.of].median_us / figures[self.ratio_to].median_us
        else:
            measured = figures[self.of].median_us
        return BudgetCheck(self, measured)


MET, MISSED, UNRESOLVED, NOT_MEASURED = "met", "missed", "unresolved (noise)", "not measured"
# The part of the per-round values a verdict looks at: all but the most extreme fifth on
# each side, so that one disturbed round of this VM's does not decide it.
SPREAD_FRACTIONS = (0.2, 0.8)


def _spread(values: Sequence[float]) -> tuple[float, float] | None:
    """The 20th and 80th percentiles (nearest rank) of per-round values; None for fewer
    than two rounds.

    >>> _spread([1.0, 5.0, 2.0, 3.0, 4.0])
    (1.0, 4.0)
    """
    if len(values) < 2:
        return None
    ordered = sorted(values)
    low, high = (
        ordered[max(1, math.ceil(fraction * len(ordered))) - 1] for fraction in SPREAD_FRACTIONS
    )
    return low, high


@dataclass(frozen=True)
class BudgetCheck:
    budget: Budget
    measured: float | None  # None when a figure it needs did not run
    # The measured value's range across interleaved rounds (the 20th and 80th
    # percentiles of the per-round values); None where there are no rounds.
    spread: tuple[float, float] | None = None

    def _within(self, value: float) -> bool:
        b = self.budget
        if b.over or b.throughput or b.streaming or b.parallel:
            return value >= b.limit
        return value <= b.limit

    @property
    def verdict(self) -> str:
        """ "met", "missed", "unresolved (noise)" or "not measured".

        With a spread, met when the whole spread is within the limit, missed when none of
        it is, unresolved (noise) otherwise. An overhead (`minus`) measured below zero is
        noise, never met: a wrapper cannot make a call faster."""
        if self.measured is None:
            return NOT_MEASURED
        if self.budget.minus and self.measured < 0:
            return UNRESOLVED
        if self.spread is None:
            return MET if self._within(self.measured) else MISSED
        low, high = (self._within(v) for v in self.spread)
        if low and high and self._within(self.measured):
            return MET
        if not low and not high and not self._within(self.measured):
            return MISSED
        return UNRESOLVED

    @property
    def met(self) -> bool | None:
        """True when met, False when missed, None when not measured or unresolved."""
        return {MET: True, MISSED: False}.get(self.verdict)

    @property
    def status(self) -> str:
        return self.verdict

    @property
    def measured_text(self) -> str:
        """The measured value, and its spread across rounds in brackets when it has one."""
        if self.measured is None:
            return "-"
        text = self._format(self.measured)
        if self.spread is not None:
            text += f" [{self._format(self.spread[0])}..{self._format(self.spread[1])}]"
        return text

    def _format(self, value: float) -> str:
        if self.budget.over:
            return f"{value:.1f}x"
        if self.budget.ratio_to:
            return f"{value:.2f}x"
        if self.budget.deadline or self.budget.cold:
            return f"{value:.1f} ms"
        return f"{value:.2f} us"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.budget.name,
            "budget": self.budget.text,
            "limit": self.budget.limit,
            "unit": self.budget.unit,
            "measured": None if self.measured is None else round(self.measured, 3),
            "met": self.met,
            "verdict": self.verdict,
            "spread": None if self.spread is None else [round(v, 3) for v in self.spread],
        }


BUDGETS: tuple[Budget, ...] = (
    Budget("bridge_median", "bridge", 3.0),
    Budget("bridge_vs_wasmtime_naive", "bridge", 20.0, over="wasmtime_naive"),
    Budget("bridge_vs_extism", "bridge", 4.0, over="extism"),
    # Against the same call written by hand, which also builds the request from values.
    Budget("route_wasm_overhead", "route_wasm", 1.0, minus="bridge_args"),
    # "~0" (docs/performance.md, "Budgets"): one wrapper call and an attribute read.
    Budget("route_python_overhead", "route_python", 0.25, minus="legacy"),
    # The user's path: guests of bridge init + gen against Python doing the same work, in
    # the same run (docs/performance.md, "The generated path").
    Budget("bridge_gen_rust_vs_python", "bridge_gen_rust", 1.5, ratio_to="python"),
    Budget("bridge_gen_go_vs_python", "bridge_gen_go", 1.5, ratio_to="python"),
    # Threads never hurt, and help where there is work to share; pre-forked workers scale
    # (docs/performance.md, "Threads and forked workers").
    *(
        Budget(
            f"threads_{kind}_{n}",
            f"threads_{kind}_{n}",
            limit,
            ratio_to=f"threads_{kind}_1",
            parallel=True,
        )
        for kind, limit in (("short", 1.0), ("long", 1.8))
        for n in THREAD_COUNTS[1:]
    ),
    Budget("forked_2", "forked_2", 1.8, ratio_to="forked_1", parallel=True),
    # Cold start: an app that only uses the decorator imports neither wasmtime nor grpc;
    # `bridge build` leaves the module compiled, so the first call after it loads from
    # the compile cache (a Go module compiles in ~1 s; docs/performance.md, "Cold start").
    Budget("import_bridge", "import_bridge", 100.0, cold=True),
    Budget("first_call_after_build", "first_call_after_build", 100.0, cold=True),
    # The sidecar (`--processes 1` and `--processes 2`) against grpcio itself with an
    # empty handler in one process, same clients, same transport.
    *(
        Budget(f"{s}_{t}_latency", f"{s}_{t}", 1.15, ratio_to=f"grpc_bare_{t}", sidecar=True)
        for s in ("sidecar", "sidecar_p2")
        for t in TRANSPORTS
    ),
    *(
        Budget(
            f"{s}_{t}_throughput",
            f"{s}_{t}_{SIDECAR_CLIENTS}",
            limit,
            ratio_to=f"grpc_bare_{t}_{SIDECAR_CLIENTS}",
            throughput=True,
            sidecar=True,
        )
        for s, limit in (("sidecar", 1.0), ("sidecar_p2", 1.5))
        for t in TRANSPORTS
    ),
    # What the epoch ticker guarantees even while Python threads hold the GIL; the
    # caller's own lateness has no budget (docs/performance.md, "Deadlines beside busy
    # Python threads").
    Budget("deadline_overrun_busy_3", "deadline_busy_3", 50.0, deadline=True),
    # A stream through the sidecar against grpcio yielding the same messages pre-encoded,
    # same client, same socket (docs/performance.md, "Server streaming").
    Budget(
        "stream_sidecar_uds_throughput",
        "stream_sidecar_uds",
        0.5,
        ratio_to="stream_grpc_bare_uds",
        streaming=True,
    ),
)


# ---------------------------------------------------------------------------
# Timing.


@dataclass(frozen=True)
class Measurement:
    name: str
    description: str
    calls: int
    median_us: float
    p99_us: float


def percentile(sorted_samples: Sequence[int], fraction: float) -> int:
    """The nearest-rank percentile of samples sorted in ascending order.

    >>> percentile(list(range(1, 101)), 0.99)
    99
    >>> percentile([5], 0.99)
    5
    """
    if not sorted_samples:
        raise ValueError("no samples")
    rank = max(1, math.ceil(fraction * len(sorted_samples)))
    return sorted_samples[rank - 1]


def _summarize(name: str, description: str, samples: list[int]) -> Measurement:
    samples.sort()
    return Measurement(
        name=name,
        description=description,
        calls=len(samples),
        median_us=statistics.median(samples) / 1000,
        p99_us=percentile(samples, 0.99) / 1000,
    )


def _sampler(
    call: Callable[[Any], Any], ctx: Context, messages: bool
) -> Callable[[int, list[int]], None]:
    """A function that makes n timed calls and appends each call's nanoseconds to a list."""
    clock = time.perf_counter_ns
    request = ctx.request

    if messages:

        def run_messages(n: int, out: list[int]) -> None:
            append = out.append
            for _ in range(n):
                start = clock()
                call(request)
                append(clock() - start)

        return run_messages

    serialize = request.SerializeToString
    parse = ctx.response_type.FromString

    def run_bytes(n: int, out: list[int]) -> None:
        append = out.append
        for _ in range(n):
            start = clock()
            parse(call(serialize()))
            append(clock() - start)

    return run_bytes


def _time(run: Callable[[int, list[int]], None], *, calls: int | None, seconds: float) -> list[int]:
    """Run the calls: exactly `calls` of them, or batches until `seconds` have passed."""
    samples: list[int] = []
    if calls is not None:
        run(calls, samples)
        return samples
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and len(samples) < MAX_CALLS:
        run(BATCH, samples)
    return samples


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_answer(fig: Figure, call: Callable[[Any], Any], ctx: Context, reference: bytes) -> None:
    """Every figure must answer what the Python reference answers, byte for byte."""
    if fig.messages:
        answer = call(ctx.request).SerializeToString()
    else:
        answer = call(ctx.request.SerializeToString())
    if answer != reference:
        raise CallError(
            f"bench figure {fig.name} answered {answer!r}, not the reference {reference!r}",
            method=QUOTE_METHOD,
        )


def measure(
    fig: Figure, ctx: Context, *, iterations: int | None = None, seconds: float = DEFAULT_SECONDS
) -> Measurement:
    """Set the figure up, check its answer, warm it up and time it (FigureSkipped passes)."""
    reference = python_quote(ctx.request_type, ctx.response_type, ctx.request.SerializeToString())
    with fig.setup(ctx) as call:
        _check_answer(fig, call, ctx, reference)
        run = _sampler(call, ctx, fig.messages)
        with ctx.progress(f"timing {fig.name} ..."), _gc_paused():
            if iterations is None:
                _time(run, calls=None, seconds=WARM_UP_SECONDS)
            else:
                _time(run, calls=min(WARM_UP_MAX_CALLS, max(1, iterations // 10)), seconds=0)
            samples = _time(run, calls=iterations, seconds=seconds)
    return _summarize(fig.name, fig.description, samples)


def measure_figures(
    figs: Sequence[Figure],
    ctx: Context,
    *,
    iterations: int | None = None,
    seconds: float = DEFAULT_SECONDS,
    rounds: int = FIGURE_ROUNDS,
    on_skip: Callable[[str, str], None] | None = None,
) -> tuple[dict[str, Measurement], dict[str, list[float]], dict[str, str]]:
    """Set every figure up, check its answer, warm it up, then time them all in `rounds`
    interleaved rounds (each round times every figure for its share, in alternating
    order), so that the machine's drift falls on all alike.

    Answers each figure's measurement over all its calls, each figure's median per round
    (us, for the budgets' verdicts), and the figures skipped with the reason.
    """
    reference = python_quote(ctx.request_type, ctx.response_type, ctx.request.SerializeToString())
    skipped: dict[str, str] = {}
    samplers: dict[str, tuple[Figure, Callable[[int, list[int]], None]]] = {}
    with contextlib.ExitStack() as stack:
        for fig in figs:
            try:
                call = stack.enter_context(fig.setup(ctx))
            except FigureSkipped as skip:
                skipped[fig.name] = skip.reason
                if on_skip is not None:
                    on_skip(fig.name, skip.reason)
                continue
            _check_answer(fig, call, ctx, reference)
            samplers[fig.name] = (fig, _sampler(call, ctx, fig.messages))
        samples: dict[str, list[int]] = {name: [] for name in samplers}
        per_round: dict[str, list[float]] = {name: [] for name in samplers}
        calls: list[int | None]
        if iterations is None:
            warm_up, calls, share = None, [None] * rounds, seconds / rounds
        else:
            warm_up = min(WARM_UP_MAX_CALLS, max(1, iterations // 10))
            rounds = max(1, min(rounds, iterations))
            calls, share = (
                [iterations // rounds + (i < iterations % rounds) for i in range(rounds)],
                0.0,
            )
        names = ", ".join(samplers)
        with ctx.progress(f"timing {names} in {rounds} interleaved rounds ..."), _gc_paused():
            for _, run in samplers.values():
                _time(run, calls=warm_up, seconds=WARM_UP_SECONDS)
            order = list(samplers)
            for index in range(rounds):
                for name in order if index % 2 == 0 else order[::-1]:
                    taken = _time(samplers[name][1], calls=calls[index], seconds=share)
                    samples[name].extend(taken)
                    per_round[name].append(statistics.median(taken) / 1000)
    measured = {
        name: _summarize(name, samplers[name][0].description, samples[name]) for name in samplers
    }
    return measured, per_round, skipped


def measure_parallel(
    ctx: Context,
    *,
    iterations: int | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> tuple[dict[str, Parallel], dict[str, str]]:
    """The threads figures (the generated Go guest) and the forked-workers figures (the
    generated Rust guest); see bridge/bench_parallel.py. Skipped with the reason when a
    guest cannot be built here."""
    from . import bench_parallel
    from .runtime import load

    figures: dict[str, Parallel] = {}
    skipped: dict[str, str] = {}
    threads = [f"threads_{k}_{n}" for k in ("short", "long") for n in THREAD_COUNTS]
    forks = [f"forked_{n}" for n in bench_parallel.FORK_WORKERS]
    for names, language, what in ((threads, "go", "threads"), (forks, "rust", "forked workers")):
        try:
            path = ctx.generated(language)
        except FigureSkipped as skip:
            for name in names:
                skipped[name] = skip.reason
                if on_skip is not None:
                    on_skip(name, skip.reason)
            continue
        with load(path) as guest, ctx.progress(f"timing {what} ..."):
            if language == "go":
                figures.update(bench_parallel.measure_threads(guest, iterations=iterations))
            else:
                request = ctx.request.SerializeToString()
                answer = python_quote(ctx.request_type, ctx.response_type, request)
                figures.update(
                    bench_parallel.measure_forks(
                        guest, QUOTE_METHOD, request, answer, iterations=iterations
                    )
                )
    return figures, skipped


def measure_cold(ctx: Context, *, runs: int | None = None) -> dict[str, ColdStart]:
    """The cold-start figures (bridge/bench_parallel.py, `measure_cold_start`), the first
    call's on the generated Go guest (else the Rust one); {} when neither can be built."""
    from . import bench_parallel

    for language in ("go", "rust"):
        try:
            ctx.generated(language)
        except FigureSkipped:
            continue
        project = ctx.cache / "generated" / f"pricing_{language}"
        with ctx.progress("timing the cold start (fresh processes) ..."):
            return bench_parallel.measure_cold_start(
                project,
                QUOTE_METHOD,
                ctx.request.SerializeToString(),
                runs=runs or bench_parallel.COLD_RUNS,
            )
    return {}


# ---------------------------------------------------------------------------
# The sidecar figures: the call over gRPC to a server in another process.


@dataclass(frozen=True)
class SidecarFigure:
    """A gRPC server the sidecar figures time: `bridge serve --processes N` of the Rust
    guest, or the bare grpcio server (`serve_bare`, one process), on a unix socket (`uds`;
    N sockets for N processes) or loopback TCP (`tcp`; one port)."""

    name: str
    server: str  # "sidecar" | "bare"
    transport: str  # "uds" | "tcp"
    description: str
    processes: int = 1

    @property
    def throughput_name(self) -> str:
        return f"{self.name}_{SIDECAR_CLIENTS}"


SIDECAR_FIGURES: tuple[SidecarFigure, ...] = (
    SidecarFigure("grpc_bare_uds", "bare", "uds", "bare grpcio server, empty handler, unix socket"),
    SidecarFigure("sidecar_uds", "sidecar", "uds", "bridge serve (the Rust guest), unix socket"),
    SidecarFigure(
        "sidecar_p2_uds",
        "sidecar",
        "uds",
        "bridge serve --processes 2 (the Rust guest), 2 unix sockets, a worker per client",
        processes=2,
    ),
    SidecarFigure("grpc_bare_tcp", "bare", "tcp", "bare grpcio server, empty handler, TCP"),
    SidecarFigure("sidecar_tcp", "sidecar", "tcp", "bridge serve (the Rust guest), loopback TCP"),
    SidecarFigure(
        "sidecar_p2_tcp",
        "sidecar",
        "tcp",
        "bridge serve --processes 2 (the Rust guest), loopback TCP, one port (SO_REUSEPORT)",
        processes=2,
    ),
)


@dataclass(frozen=True)
class Throughput:
    """Calls completed by `clients` concurrent callers in `seconds` of wall time, over
    interleaved rounds (`rounds`: calls per second in each), and the CPU time the server
    (its processes together) and the clients spent on them (None where it cannot be
    read: only Linux gives another process's CPU time)."""

    name: str
    description: str
    clients: int
    calls: int
    seconds: float
    rounds: tuple[float, ...] = ()
    server_cpu_s: float | None = None
    client_cpu_s: float | None = None

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    def cpu_us_per_call(self, cpu_s: float | None) -> float | None:
        return None if cpu_s is None or not self.calls else cpu_s / self.calls * 1e6

    @property
    def busy(self) -> float | None:
        """How much of the machine's CPU (all its cores) server and clients kept busy:
        near 1, the machine, not the server, sets the calls per second."""
        if self.server_cpu_s is None or self.client_cpu_s is None or self.seconds <= 0:
            return None
        return (self.server_cpu_s + self.client_cpu_s) / (self.seconds * _cores())

    def to_json(self) -> dict[str, object]:
        def rounded(value: float | None, digits: int = 1) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "calls_per_s": round(self.calls_per_s, 1),
            "clients": self.clients,
            "calls": self.calls,
            "seconds": round(self.seconds, 6),  # short runs: ms would skew calls/s by 1%
            "rounds": [round(r, 1) for r in self.rounds],
            "server_cpu_us_per_call": rounded(self.cpu_us_per_call(self.server_cpu_s)),
            "client_cpu_us_per_call": rounded(self.cpu_us_per_call(self.client_cpu_s)),
            "machine_busy": rounded(self.busy, 3),
        }


def _cores() -> int:
    """The cores this process may run on (the machine's, unless limited)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _cpu_s(root: int) -> float | None:
    """CPU time (user + system, s) of process `root` and every live process under it,
    from /proc; None where there is no /proc."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    parents: dict[int, int] = {}
    spent: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                # After the command's closing parenthesis: state, ppid, ..., utime (11), stime (12).
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(entry)] = int(fields[1])
        spent[int(entry)] = int(fields[11]) + int(fields[12])
    if root not in spent:
        return None
    total, frontier = 0, [root]
    while frontier:
        pid = frontier.pop()
        total += spent[pid]
        frontier += [child for child, parent in parents.items() if parent == pid]
    return total / tick


# Where this bridge is imported from: the servers run the same code, whatever the cwd.
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent

_SERVE_BARE = "import sys; from bridge.bench import serve_bare; serve_bare(sys.argv[1:])"


def serve_bare(argv: Sequence[str]) -> None:
    """The bare grpcio server of the `grpc_bare_*` figures (run in its own process).

    What grpcio does without bridge: the server options and generic-handler lookup of
    `bridge serve` (bridge/sidecar/server.py), a ThreadPoolExecutor of as many threads
    as `bridge serve` may use (bridge's CallPool, which runs calls on fewer while they
    keep up, is bridge's own), and a handler that returns a constant (`--response`,
    hex: the reference response, so that the same bytes travel).
    With `--stream-responses FILE` (messages, each after its length as 4 bytes big-endian:
    see `write_messages`), it also serves STREAM_METHOD, a unary_stream handler yielding
    those messages, pre-encoded, for the streaming figures.
    Prints a handshake line when it serves; stops on SIGTERM or when `--lifeline-fd`
    closes (the bench that started it is gone).
    """
    import argparse
    import signal
    from concurrent import futures

    import grpc

    from .sidecar.handshake import Handshake
    from .sidecar.process import wait_closed

    parser = argparse.ArgumentParser(prog="bridge-bench-bare-server")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket")
    where.add_argument("--listen", metavar="HOST:PORT")
    parser.add_argument("--workers", type=int, default=SIDECAR_WORKERS)
    parser.add_argument("--response", default="")
    parser.add_argument("--stream-responses", type=Path)
    parser.add_argument("--lifeline-fd", type=int)
    args = parser.parse_args(list(argv))
    response = bytes.fromhex(args.response)

    def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
        return response

    handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
        f"/{QUOTE_METHOD}": grpc.unary_unary_rpc_method_handler(handle)
    }
    if args.stream_responses is not None:
        messages = read_messages(args.stream_responses)

        def stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            yield from messages

        handlers[f"/{STREAM_METHOD}"] = grpc.unary_stream_rpc_method_handler(stream)

    class Generic(grpc.GenericRpcHandler):
        def service(
            self, handler_call_details: grpc.HandlerCallDetails
        ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
            return handlers.get(handler_call_details.method)

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.workers, thread_name_prefix="bench-bare"),
        handlers=[Generic()],
        options=[("grpc.so_reuseport", 0)],
    )
    if args.socket is not None:
        if not server.add_insecure_port(f"unix:{args.socket}"):
            raise SystemExit(f"cannot listen on {args.socket}")
        handshake = Handshake("unix", args.socket)
    else:
        port = server.add_insecure_port(args.listen)
        if not port:
            raise SystemExit(f"cannot listen on {args.listen}")
        handshake = Handshake("tcp", f"{args.listen.rpartition(':')[0]}:{port}")
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopped.set())
    if args.lifeline_fd is not None:

        def until_the_bench_is_gone() -> None:
            wait_closed(args.lifeline_fd)
            stopped.set()

        threading.Thread(target=until_the_bench_is_gone, daemon=True).start()
    print(handshake.line(), flush=True)
    while not stopped.wait(0.5):
        pass
    server.stop(0).wait(5)


class _ServerProcess:
    """One server of the sidecar figures in a child process: started at once, `ready()`
    reads its handshake line, `stop()` ends it. The child also stops by itself when this
    process dies (its lifeline pipe closes)."""

    def __init__(
        self,
        fig: SidecarFigure,
        wasm: Path,
        folder: Path,
        response: bytes,
        bare_args: Sequence[str] = (),
    ) -> None:
        self.name = fig.name
        where = (
            ["--socket", str(folder / f"{fig.name}.sock")]
            if fig.transport == "uds"
            else ["--listen", "127.0.0.1:0"]
        )
        lifeline_read, self._lifeline = os.pipe()
        common = ["--workers", str(SIDECAR_WORKERS), "--lifeline-fd", str(lifeline_read)]
        if fig.server == "sidecar":
            argv = [sys.executable, "-m", "bridge", "serve", str(wasm), "--no-watch"]
            argv += ["--grace", "1", "--processes", str(fig.processes), *common, *where]
        else:
            argv = [sys.executable, "-c", _SERVE_BARE, "--response", response.hex()]
            argv += [*bare_args, *common, *where]
        self._stderr_path = folder / f"{fig.name}.stderr"
        self._stderr = self._stderr_path.open("wb")
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                pass_fds=(lifeline_read,),
                cwd=_PACKAGE_PARENT,
            )
        finally:
            os.close(lifeline_read)

    def ready(self, timeout_s: float) -> str:
        """The gRPC target, once the server has printed its handshake line."""
        from .sidecar.handshake import Handshake
        from .sidecar.process import first_line

        assert self.process.stdout is not None
        try:
            line = first_line(self.process.stdout.fileno(), timeout_s)
        except TimeoutError:
            raise SidecarError(
                f"bench server {self.name} did not start in {timeout_s:g} s"
            ) from None
        if line is None:
            self.process.wait(5)
            raise SidecarError(
                f"bench server {self.name} exited ({self.process.returncode}) before "
                f"it served: {self.stderr_tail()}"
            )
        return Handshake.parse(line).target

    def cpu_s(self) -> float | None:
        """CPU time the server's processes have spent so far (see `_cpu_s`)."""
        return _cpu_s(self.process.pid)

    def stderr_tail(self, lines: int = 3) -> str:
        self._stderr.flush()
        text = self._stderr_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(nothing on stderr)"

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._lifeline)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


def _split(total: int, parts: int) -> list[int]:
    """`total` calls in `parts` rounds, as evenly as can be (no empty round).

    >>> _split(25, 3), _split(2, 3)
    ([9, 8, 8], [1, 1])
    """
    return [n for n in (total // parts + (i < total % parts) for i in range(parts)) if n]


_THROUGHPUT_CLIENT = (
    "import sys; from bridge.bench import throughput_client; throughput_client(sys.argv[1:])"
)
# A subchannel pool of each channel's own gives it a connection of its own (on TCP, the
# kernel spreads connections over the processes of `bridge serve --processes N`).
_CLIENT_CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)


def _client_target(target: str, index: int) -> str:
    """The target client `index` dials: for the sockets of `bridge serve --processes N`
    (`unix:a,b`), the same list starting at worker `index % N`, dialled with pick_first,
    so that the client keeps to one worker while it answers, as a thread of bridge's own
    client does (client._Channel; the clients are spread over the workers in turn);
    any other target as it is.

    >>> _client_target("unix:/s.sock,/s.1.sock", 3), _client_target("127.0.0.1:5", 3)
    ('unix:/s.1.sock,/s.sock', '127.0.0.1:5')
    """
    if not target.startswith("unix:") or "," not in target:
        return target
    workers = target[len("unix:") :].split(",")
    first = index % len(workers)
    return "unix:" + ",".join(workers[first:] + workers[:first])


def throughput_client(argv: Sequence[str]) -> None:
    """One client process of the throughput figures (run by `_ClientProcesses`).

    argv: the client's index, the request (hex), then NAME=TARGET for each server. Opens
    CLIENT_CONNECTIONS channels to each (see `_client_target`), says `ready`, then for
    each line `NAME CALLS START UNTIL` on stdin (times on the monotonic clock, which
    every process shares) waits until START, calls NAME's server CALLS times (or, with
    0, until UNTIL), through its channels in turn, and
    answers `CALLS_MADE END CPU` (CPU: the seconds of CPU time the calls took it) or
    `error WHAT`. Ends when stdin closes."""
    import resource

    import grpc

    def cpu_s() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    index, request = int(argv[0]), bytes.fromhex(argv[1])
    stubs: dict[str, list[grpc.UnaryUnaryMultiCallable[bytes, bytes]]] = {}
    for item in argv[2:]:
        name, _, target = item.partition("=")
        stubs[name] = [
            grpc.insecure_channel(
                _client_target(target, index), options=_CLIENT_CHANNEL_OPTIONS
            ).unary_unary(f"/{QUOTE_METHOD}")
            for _ in range(CLIENT_CONNECTIONS)
        ]
    print("ready", flush=True)
    for line in sys.stdin:
        name, calls_text, start_text, until_text = line.split()
        calls, until = int(calls_text), float(until_text)
        own = stubs[name]
        made = 0
        time.sleep(max(0.0, float(start_text) - time.monotonic()))
        began = cpu_s()
        try:
            if calls:
                for made in range(1, calls + 1):
                    own[made % CLIENT_CONNECTIONS](request, timeout=SIDECAR_CALL_TIMEOUT_S)
            else:
                while time.monotonic() < until:
                    own[made % CLIENT_CONNECTIONS](request, timeout=SIDECAR_CALL_TIMEOUT_S)
                    made += 1
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            print(f"error {name}: {code}: {details}".replace("\n", " "), flush=True)
            continue
        print(f"{made} {time.monotonic()!r} {cpu_s() - began!r}", flush=True)


class _ClientProcesses:
    """SIDECAR_CLIENTS client processes (`throughput_client`), each with its channels to
    every server, alive for the whole measurement: the client side of the throughput
    figures, off this process's GIL and each on its own."""

    def __init__(self, targets: dict[str, str], request: bytes) -> None:
        argv = [request.hex(), *(f"{name}={target}" for name, target in targets.items())]
        self.processes: list[subprocess.Popen[str]] = []
        for index in range(SIDECAR_CLIENTS):
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-c", _THROUGHPUT_CLIENT, str(index), *argv],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=_PACKAGE_PARENT,
                )
            )
        for process in self.processes:
            self._answer(process, SERVER_START_TIMEOUT_S)

    def run(self, name: str, *, calls_each: int | None, seconds: float) -> tuple[int, float, float]:
        """Every client calls `name`'s server at once, `calls_each` times or for `seconds`;
        the calls made, the wall time from the common start to the last one's end, and
        the CPU time the clients spent."""
        start = time.monotonic() + 0.05  # each client has read its line by then
        until = start + seconds if calls_each is None else 0.0
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(f"{name} {calls_each or 0} {start!r} {until!r}\n")
            process.stdin.flush()
        made, ends, cpu = 0, [], 0.0
        errors = []
        for process in self.processes:
            answer = self._answer(process, seconds + 4 * SIDECAR_CALL_TIMEOUT_S)
            if answer.startswith("error "):
                errors.append(answer[len("error ") :])
                continue
            calls, end, spent = answer.split()
            made += int(calls)
            ends.append(float(end))
            cpu += float(spent)
        if errors:
            raise SidecarError(f"a bench client's call failed: {errors[0]}")
        return made, max(ends) - start, cpu

    def _answer(self, process: subprocess.Popen[str], timeout_s: float) -> str:
        from .sidecar.process import first_line

        assert process.stdout is not None
        try:
            line = first_line(process.stdout.fileno(), timeout_s)
        except TimeoutError:
            raise SidecarError(f"a bench client did not answer in {timeout_s:g} s") from None
        if line is None:
            raise SidecarError(f"a bench client exited ({process.wait(5)})")
        return line

    def stop(self) -> None:
        for process in self.processes:
            with contextlib.suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def measure_sidecar(
    ctx: Context,
    *,
    iterations: int | None = None,
    seconds: float = DEFAULT_SECONDS,
    throughput_seconds: float = THROUGHPUT_SECONDS,
) -> tuple[dict[str, Measurement], dict[str, list[float]], dict[str, Throughput]]:
    """Start the servers of SIDECAR_FIGURES, check their answers, time them: the latency
    figures, their medians per round (us, for the verdicts), the throughput figures.

    Latency: one call at a time from this process, each timed (`iterations` calls, or
    `seconds` of them, per figure). Throughput: SIDECAR_CLIENTS client processes calling
    at once (`iterations` calls each, or `throughput_seconds`; see `throughput_client`).
    Both are split in SIDECAR_ROUNDS rounds that visit the servers in turn, in
    alternating order. Raises SidecarError when a server does not start or a call fails.
    """
    import grpc

    request = ctx.request.SerializeToString()
    reference = python_quote(ctx.request_type, ctx.response_type, request)
    wasm = ctx.guest("rust-pricing")
    samples: dict[str, list[int]] = {fig.name: [] for fig in SIDECAR_FIGURES}
    medians: dict[str, list[float]] = {fig.name: [] for fig in SIDECAR_FIGURES}
    # Per throughput round: calls, seconds, the server's CPU seconds (None: unknown), the
    # clients'.
    loads: dict[str, list[tuple[int, float, float | None, float]]] = {
        fig.name: [] for fig in SIDECAR_FIGURES
    }
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bridge-bench-")))
        with ctx.progress("starting the gRPC servers (bridge serve, bare grpcio) ..."):
            servers: dict[str, _ServerProcess] = {}
            for fig in SIDECAR_FIGURES:  # all at once: they start in parallel
                servers[fig.name] = _ServerProcess(fig, wasm, folder, reference)
                stack.callback(servers[fig.name].stop)
            targets = {name: s.ready(SERVER_START_TIMEOUT_S) for name, s in servers.items()}
        calls: dict[str, BytesCall] = {}
        for fig in SIDECAR_FIGURES:
            # One caller: for `--processes 2` on sockets, one worker, as a thread of
            # bridge's client keeps to one (see _client_target).
            channel = stack.enter_context(grpc.insecure_channel(targets[fig.name]))
            stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                f"/{QUOTE_METHOD}"
            )
            # A deadline on every call, as SidecarBackend sets one.
            calls[fig.name] = functools.partial(stub, timeout=SIDECAR_CALL_TIMEOUT_S)
        try:
            for fig in SIDECAR_FIGURES:
                answer = calls[fig.name](request)
                if answer != reference:
                    raise CallError(
                        f"bench figure {fig.name} answered {answer!r}, not the reference "
                        f"{reference!r}",
                        method=QUOTE_METHOD,
                    )
            with ctx.progress(f"starting {SIDECAR_CLIENTS} client processes ..."):
                clients = _ClientProcesses(targets, request)
                stack.callback(clients.stop)
            names = ", ".join(fig.name for fig in SIDECAR_FIGURES)
            with ctx.progress(f"timing {names} ..."), _gc_paused():
                runs = {fig.name: _sampler(calls[fig.name], ctx, False) for fig in SIDECAR_FIGURES}
                for fig in SIDECAR_FIGURES:
                    if iterations is None:
                        _time(runs[fig.name], calls=None, seconds=WARM_UP_SECONDS)
                    else:
                        warm_up = min(WARM_UP_MAX_CALLS, max(1, iterations // 10))
                        _time(runs[fig.name], calls=warm_up, seconds=0)
                rounds = (
                    [None] * SIDECAR_ROUNDS
                    if iterations is None
                    else _split(iterations, SIDECAR_ROUNDS)
                )
                for index, round_calls in enumerate(rounds):
                    order = SIDECAR_FIGURES if index % 2 == 0 else SIDECAR_FIGURES[::-1]
                    for fig in order:
                        taken = _time(
                            runs[fig.name], calls=round_calls, seconds=seconds / SIDECAR_ROUNDS
                        )
                        samples[fig.name] += taken
                        medians[fig.name].append(statistics.median(taken) / 1000)
                    for fig in order:
                        server_before = servers[fig.name].cpu_s()
                        made, elapsed, client_cpu = clients.run(
                            fig.name,
                            calls_each=round_calls,
                            seconds=throughput_seconds / SIDECAR_ROUNDS,
                        )
                        server_after = servers[fig.name].cpu_s()
                        server_cpu = (
                            None
                            if server_before is None or server_after is None
                            else server_after - server_before
                        )
                        loads[fig.name].append((made, elapsed, server_cpu, client_cpu))
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            tails = "; ".join(f"{name}: {s.stderr_tail(1)}" for name, s in servers.items())
            raise SidecarError(
                f"a bench call over gRPC failed ({code}: {details}); the servers' last "
                f"words: {tails}"
            ) from None
    latency = {
        fig.name: _summarize(fig.name, fig.description, samples[fig.name])
        for fig in SIDECAR_FIGURES
    }
    throughput = {fig.throughput_name: _throughput(fig, loads[fig.name]) for fig in SIDECAR_FIGURES}
    return latency, medians, throughput


def _throughput(
    fig: SidecarFigure, loads: Sequence[tuple[int, float, float | None, float]]
) -> Throughput:
    server_cpu = [cpu for _, _, cpu, _ in loads]
    return Throughput(
        name=fig.throughput_name,
        description=f"{fig.description}, {SIDECAR_CLIENTS} client processes",
        clients=SIDECAR_CLIENTS,
        calls=sum(made for made, _, _, _ in loads),
        seconds=sum(elapsed for _, elapsed, _, _ in loads),
        rounds=tuple(made / elapsed for made, elapsed, _, _ in loads if elapsed > 0),
        server_cpu_s=None if None in server_cpu else sum(c for c in server_cpu if c is not None),
        client_cpu_s=sum(cpu for _, _, _, cpu in loads),
    )


# ---------------------------------------------------------------------------
# The streaming figures (--streaming): one server-streaming call, read to its end.


@dataclass(frozen=True)
class StreamFigure:
    """A way of reading the route guide's stream: in-process (`bridge`), or from a server
    in another process over a unix socket (`sidecar`: `bridge serve` of the Go guest;
    `bare`: the bare grpcio server yielding the reference messages, see `serve_bare`)."""

    name: str
    server: str  # "bridge" | "sidecar" | "bare"
    description: str


STREAM_FIGURES: tuple[StreamFigure, ...] = (
    StreamFigure("stream_bridge", "bridge", "bridge.load(path).stream(method, bytes), in-process"),
    StreamFigure("stream_sidecar_uds", "sidecar", "bridge serve (the Go guest), unix socket"),
    StreamFigure(
        "stream_grpc_bare_uds", "bare", "bare grpcio server yielding the messages, unix socket"
    ),
)


@dataclass(frozen=True)
class StreamMeasurement(Measurement):
    """Streams of `messages` messages, each read to its end: `calls` is the streams timed;
    `median_us` and `p99_us` are of a stream's wall time divided by its messages."""

    messages: int = 0

    @property
    def messages_per_s(self) -> float:
        """Messages a second of the median stream."""
        return 1e6 / self.median_us if self.median_us > 0 else 0.0


def stream_rectangle(messages: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The corners (latitude, longitude) of a rectangle that holds `messages` features of
    the guest's grid: up to STREAM_GRID in one row, or whole rows.

    >>> stream_rectangle(3), stream_rectangle(10_000)
    (((0, 0), (0, 2000)), ((0, 0), (99000, 99000)))
    """
    if 1 <= messages <= STREAM_GRID:
        rows, columns = 1, messages
    elif messages % STREAM_GRID == 0 and messages <= STREAM_MESSAGES:
        rows, columns = messages // STREAM_GRID, STREAM_GRID
    else:
        raise ValueError(
            f"a stream of {messages} messages: the guest's grid gives 1 to {STREAM_GRID}, "
            f"or whole rows of {STREAM_GRID} up to {STREAM_MESSAGES}"
        )
    return (0, 0), ((rows - 1) * STREAM_SPACING, (columns - 1) * STREAM_SPACING)


def list_features(lo: tuple[int, int], hi: tuple[int, int]) -> list[tuple[str, int, int]]:
    """ListFeatures of examples/go-routeguide in plain Python: the name, latitude and
    longitude of every feature inside the rectangle, row by row.

    >>> list_features((1000, 0), (0, 1500))  # doctest: +NORMALIZE_WHITESPACE
    [('feature 0/0', 0, 0), ('feature 0/1', 0, 1000),
     ('feature 1/0', 1000, 0), ('feature 1/1', 1000, 1000)]
    """
    min_lat, max_lat = sorted((lo[0], hi[0]))
    min_lng, max_lng = sorted((lo[1], hi[1]))
    return [
        (f"feature {i}/{j}", i * STREAM_SPACING, j * STREAM_SPACING)
        for i in range(STREAM_GRID)
        if min_lat <= i * STREAM_SPACING <= max_lat
        for j in range(STREAM_GRID)
        if min_lng <= j * STREAM_SPACING <= max_lng
    ]


def stream_reference(ctx: Context, messages: int) -> tuple[bytes, list[bytes]]:
    """The request (a Rectangle) for a stream of `messages` features, and the reference
    answer: each Feature, encoded by Python protobuf."""
    types = ctx.routeguide
    point, feature = types["Point"], types["Feature"]
    lo, hi = stream_rectangle(messages)
    request = types["Rectangle"](
        lo=point(latitude=lo[0], longitude=lo[1]), hi=point(latitude=hi[0], longitude=hi[1])
    )
    reference = [
        feature(name=name, location=point(latitude=lat, longitude=lng)).SerializeToString()
        for name, lat, lng in list_features(lo, hi)
    ]
    return request.SerializeToString(), reference


def write_messages(path: Path, messages: Sequence[bytes]) -> None:
    """Messages into a file, each after its length as 4 bytes big-endian."""
    path.write_bytes(b"".join(len(m).to_bytes(4, "big") + m for m in messages))


def read_messages(path: Path) -> list[bytes]:
    """The messages `write_messages` wrote.

    >>> import tempfile; path = Path(tempfile.mkdtemp()) / "m.bin"
    >>> write_messages(path, [b"ab", b"", b"c"]); read_messages(path)
    [b'ab', b'', b'c']
    """
    data, at, messages = path.read_bytes(), 0, []
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        messages.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    return messages


def _drain(stream: Iterable[bytes]) -> int:
    """Read a stream to its end; its messages."""
    count = 0
    for _ in stream:
        count += 1
    return count


@contextlib.contextmanager
def _grpc_stream(
    stub: grpc.UnaryStreamMultiCallable[bytes, bytes], request: bytes
) -> Iterator[Iterable[bytes]]:
    responses = stub(request, timeout=STREAM_CALL_TIMEOUT_S)
    try:
        yield responses
    finally:
        responses.cancel()  # a no-op once the stream ended


def _check_stream(name: str, answer: list[bytes], reference: list[bytes]) -> None:
    """Every streaming figure must answer the reference's messages, byte for byte."""
    if answer == reference:
        return
    if len(answer) != len(reference):
        detail = f"{len(answer)} messages, not the reference's {len(reference)}"
    else:
        at = next(i for i in range(len(answer)) if answer[i] != reference[i])
        detail = f"message {at} is {answer[at]!r}, not the reference's {reference[at]!r}"
    raise CallError(f"bench figure {name} answered {detail}", method=STREAM_METHOD)


def measure_streaming(
    ctx: Context, *, iterations: int | None = None, messages: int = STREAM_MESSAGES
) -> dict[str, StreamMeasurement]:
    """Read the route guide's stream of `messages` features each way of STREAM_FIGURES,
    check it against the reference, and time it.

    The servers (`bridge serve` of the Go guest, the bare grpcio server) run in their
    own processes, as for the sidecar figures, and are read by one grpcio client, bytes
    in and out, nothing decoded; `stream_bridge` reads `GuestModule.stream` in this
    process. Each stream is timed from the call to its last message, in STREAM_ROUNDS
    rounds (`iterations` with it) that read each figure's stream once, in alternating
    order, after the check's stream has warmed each one up.

    Raises FigureSkipped when there is no Go toolchain to build the guest, SidecarError
    when a server does not start or a call over gRPC fails, CallError when a stream is
    not the reference.
    """
    import grpc

    from .runtime import load

    request, reference = stream_reference(ctx, messages)
    try:
        wasm = ctx.guest(STREAM_GUEST)
    except ToolchainError as exc:
        raise FigureSkipped(f"{GUEST_PROJECTS[STREAM_GUEST]} needs Go: {exc}") from exc
    rounds = STREAM_ROUNDS if iterations is None else iterations
    samples: dict[str, list[int]] = {fig.name: [] for fig in STREAM_FIGURES}
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bridge-bench-")))
        responses = folder / "features.bin"
        write_messages(responses, reference)
        servers: dict[str, _ServerProcess] = {}
        with ctx.progress("starting the streaming servers (bridge serve, bare grpcio) ..."):
            for fig in STREAM_FIGURES:
                if fig.server == "bridge":
                    continue
                server = _ServerProcess(
                    SidecarFigure(fig.name, fig.server, "uds", fig.description),
                    wasm,
                    folder,
                    b"",
                    bare_args=["--stream-responses", str(responses)],
                )
                servers[fig.name] = server
                stack.callback(server.stop)
            guest = stack.enter_context(load(wasm))  # while the servers start
            targets = {name: s.ready(SERVER_START_TIMEOUT_S) for name, s in servers.items()}
        opens: dict[str, Callable[[], contextlib.AbstractContextManager[Iterable[bytes]]]] = {
            "stream_bridge": functools.partial(
                guest.stream, STREAM_METHOD, request, timeout_s=STREAM_CALL_TIMEOUT_S
            )
        }
        for name, target in targets.items():
            channel = stack.enter_context(grpc.insecure_channel(target))
            stub: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
                f"/{STREAM_METHOD}"
            )
            opens[name] = functools.partial(_grpc_stream, stub, request)
        try:
            for fig in STREAM_FIGURES:
                with opens[fig.name]() as stream:
                    _check_stream(fig.name, list(stream), reference)
            names = ", ".join(fig.name for fig in STREAM_FIGURES)
            timing = ctx.progress(f"timing {names} ({rounds} x {len(reference):,} messages) ...")
            clock = time.perf_counter_ns
            with timing, _gc_paused():
                for index in range(rounds):
                    for fig in STREAM_FIGURES if index % 2 == 0 else STREAM_FIGURES[::-1]:
                        began = clock()
                        with opens[fig.name]() as stream:
                            count = _drain(stream)
                        elapsed = clock() - began
                        if count != len(reference):
                            raise CallError(
                                f"bench figure {fig.name} answered {count} messages, not "
                                f"the reference's {len(reference)}",
                                method=STREAM_METHOD,
                            )
                        samples[fig.name].append(round(elapsed / count))
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            tails = "; ".join(f"{name}: {s.stderr_tail(1)}" for name, s in servers.items())
            raise SidecarError(
                f"a bench stream over gRPC failed ({code}: {details}); the servers' last "
                f"words: {tails}"
            ) from None
    measured = {}
    for fig in STREAM_FIGURES:
        m = _summarize(fig.name, fig.description, samples[fig.name])
        measured[fig.name] = StreamMeasurement(
            m.name, m.description, m.calls, m.median_us, m.p99_us, messages=len(reference)
        )
    return measured


# ---------------------------------------------------------------------------
# The deadline figures (--deadlines): a guest that never returns, beside busy Python threads.

# A bridge module with the ABI's exports (docs/abi.md section 1) and one method that loops
# forever, so that only the deadline ends a call. The calls send empty requests: malloc is
# never called, and answers one 8-byte-aligned scratch buffer if it is.
LOOP_METHOD = "bench.v1.Deadline/Loop"
LOOP_WAT = f"""
(module
  (memory (export "memory") 1)
  (func (export "bridge_abi_v1"))
  (func (export "malloc") (param $size i32) (result i32)
    (select (i32.const 8) (i32.const 0) (i32.le_u (local.get $size) (i32.const 65528))))
  (func (export "free") (param $ptr i32))
  (func (export "{LOOP_METHOD}") (param $ptr i32) (param $len i32) (result i64)
    (loop $forever (br $forever))
    (unreachable)))
"""
DEADLINE_BUSY_THREADS = (0, 1, 3)
# Each figure's calls and their deadline; with --iterations, at most DEADLINE_CALLS calls
# with the short deadline, for a quick run.
DEADLINE_S = 0.5
DEADLINE_QUICK_S = 0.05
DEADLINE_CALLS = 5
# The longest the pool may take to replace the instance a deadline discarded.
INSTANCE_WAIT_S = 10.0
_SCHEDSTAT = Path("/proc/thread-self/schedstat")


@dataclass(frozen=True)
class DeadlineFigure:
    """Calls to LOOP_METHOD with a deadline of `deadline_s`, beside `busy_threads` Python
    threads spinning in pure Python: per call, in ms, how late the caller got
    DeadlineExceeded (`late_ms`: wall time minus the deadline) and how long the guest
    itself ran beyond the deadline (`overrun_ms`: its running time minus the deadline,
    read from the calling thread's clock `guest_clock`, see `_guest_clock`: the guest
    runs on the caller's thread, which then waits for the GIL, asleep)."""

    name: str
    busy_threads: int
    deadline_s: float
    guest_clock: str  # "schedstat" | "thread_time" (see `_guest_clock`)
    ticker: str  # "native" | "thread" (bridge/runtime/ticker.py)
    late_ms: tuple[float, ...]
    overrun_ms: tuple[float, ...]

    @property
    def description(self) -> str:
        count = self.busy_threads
        if count == 0:
            return "loop guest, no busy thread"
        return f"loop guest, {count} busy Python thread{'s' if count > 1 else ''}"

    @property
    def calls(self) -> int:
        return len(self.late_ms)

    @property
    def late_median_ms(self) -> float:
        return statistics.median(self.late_ms)

    @property
    def late_max_ms(self) -> float:
        return max(self.late_ms)

    @property
    def overrun_median_ms(self) -> float:
        return statistics.median(self.overrun_ms)

    @property
    def overrun_max_ms(self) -> float:
        return max(self.overrun_ms)

    def to_json(self) -> dict[str, object]:
        return {
            "busy_threads": self.busy_threads,
            "deadline_s": self.deadline_s,
            "calls": self.calls,
            "late_median_ms": round(self.late_median_ms, 3),
            "late_max_ms": round(self.late_max_ms, 3),
            "guest_overrun_median_ms": round(self.overrun_median_ms, 3),
            "guest_overrun_max_ms": round(self.overrun_max_ms, 3),
            "guest_clock": self.guest_clock,
            "ticker": self.ticker,
        }


def deadline_figure_name(busy_threads: int) -> str:
    return f"deadline_busy_{busy_threads}"


def _read_schedstat() -> int:
    """The calling thread's nanoseconds on a CPU plus waiting in a run queue (Linux)."""
    on_cpu, waiting = _SCHEDSTAT.read_text().split()[:2]
    return int(on_cpu) + int(waiting)


def _guest_clock() -> tuple[str, Callable[[], int]]:
    """The clock of the calling thread that the guest's running time is read from.

    "schedstat": the thread's time on a CPU or runnable, waiting for one (Linux's
    /proc/thread-self/schedstat). A guest spinning is always runnable, a thread waiting
    for the GIL is asleep but for short wake-ups, so this counts the guest's whole run,
    the call's few microseconds of Python around it, and those wake-ups. Elsewhere
    "thread_time", the thread's CPU time, which leaves out the guest's waits for a CPU
    and so reads short when the CPUs are contended.

    Either reads short of the guest's stop past the deadline when the caller waits for
    the GIL after arming the deadline and before entering the guest (the deadline runs
    meanwhile, and the guest then runs less than it): an overrun below zero says so.
    """
    with contextlib.suppress(OSError, ValueError):
        before = _read_schedstat()
        spin_until = time.thread_time_ns() + 1_000_000
        while time.thread_time_ns() < spin_until:
            pass
        if _read_schedstat() > before:  # accounted (CONFIG_SCHED_INFO)
            return "schedstat", _read_schedstat
    return "thread_time", time.thread_time_ns


@contextlib.contextmanager
def busy_threads(count: int) -> Iterator[None]:
    """`count` threads incrementing a counter in pure Python, stopped on exit."""
    running = [True]

    def spin() -> None:
        spins = 0
        while running[0]:
            spins += 1

    threads = [
        threading.Thread(target=spin, name=f"bench-busy-{i}", daemon=True) for i in range(count)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        running[0] = False
        for thread in threads:
            thread.join()


def _wait_for_idle_instance(guest: GuestModule) -> None:
    """Until the pool has replaced the instance the last deadline discarded: a call must
    not wait for one, or that wait would count as lateness."""
    give_up = time.monotonic() + INSTANCE_WAIT_S
    while guest.stats()["idle"] < 1:
        if time.monotonic() > give_up:
            raise CallError(
                f"the bench's loop guest had no instance after {INSTANCE_WAIT_S:g} s",
                method=LOOP_METHOD,
            )
        time.sleep(0.005)


def _deadline_call(
    guest: GuestModule, deadline_s: float, guest_clock: Callable[[], int]
) -> tuple[float, float]:
    """One call to the loop guest: ms past the deadline for the caller, and for the guest."""
    from .errors import DeadlineExceeded

    _wait_for_idle_instance(guest)
    wall = time.perf_counter_ns
    began, began_guest = wall(), guest_clock()
    try:
        guest.call(LOOP_METHOD, b"", timeout_s=deadline_s)
    except DeadlineExceeded:
        ended, ended_guest = wall(), guest_clock()
    else:
        raise CallError("the bench's loop guest returned", method=LOOP_METHOD)
    deadline_ns = deadline_s * 1e9
    return (ended - began - deadline_ns) / 1e6, (ended_guest - began_guest - deadline_ns) / 1e6


def measure_deadlines(
    progress: ProgressFn = _no_progress, *, iterations: int | None = None
) -> dict[str, DeadlineFigure]:
    """Call a guest that loops forever, with a deadline, beside 0, 1 and 3 busy threads.

    DEADLINE_CALLS calls of DEADLINE_S for each number of DEADLINE_BUSY_THREADS; with
    `iterations`, at most that many calls of DEADLINE_QUICK_S. The guest is LOOP_WAT,
    compiled here, so no toolchain is needed.
    """
    import wasmtime

    from .runtime import limits, load

    if iterations is None:
        deadline_s, calls = DEADLINE_S, DEADLINE_CALLS
    else:
        deadline_s, calls = DEADLINE_QUICK_S, min(iterations, DEADLINE_CALLS)
    clock_name, guest_clock = _guest_clock()
    figures: dict[str, DeadlineFigure] = {}
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as folder:
        path = Path(folder) / "loop.wasm"
        path.write_bytes(wasmtime.wat2wasm(LOOP_WAT))
        with load(path) as guest:
            _deadline_call(guest, DEADLINE_QUICK_S, guest_clock)  # warm-up
            for count in DEADLINE_BUSY_THREADS:
                name = deadline_figure_name(count)
                timing = progress(f"timing {name} ({calls} x {deadline_s:g} s) ...")
                with timing, busy_threads(count):
                    samples = [_deadline_call(guest, deadline_s, guest_clock) for _ in range(calls)]
                figures[name] = DeadlineFigure(
                    name=name,
                    busy_threads=count,
                    deadline_s=deadline_s,
                    guest_clock=clock_name,
                    ticker=limits.ticker.kind,
                    late_ms=tuple(late for late, _ in samples),
                    overrun_ms=tuple(overrun for _, overrun in samples),
                )
    return figures


# ---------------------------------------------------------------------------
# The run.


@dataclass(frozen=True)
class BenchResult:
    figures: dict[str, Measurement]
    skipped: dict[str, str]
    budgets: list[BudgetCheck]
    machine: dict[str, object]
    payload: dict[str, object] = field(default_factory=dict)
    #: The sidecar run's throughput figures (empty without it).
    throughput: dict[str, Throughput] = field(default_factory=dict)
    #: The deadline figures (empty without them).
    deadlines: dict[str, DeadlineFigure] = field(default_factory=dict)
    #: The streaming figures (empty without them); in the JSON's `figures` and `calls`
    #: (the streams timed) with the others, and `messages_per_s`.
    streams: dict[str, StreamMeasurement] = field(default_factory=dict)
    #: The streaming figures' call: method, messages, bytes (empty without them).
    stream_payload: dict[str, object] = field(default_factory=dict)
    #: The threads and forked-workers figures (empty without them).
    parallel: dict[str, Parallel] = field(default_factory=dict)
    #: The cold-start figures (empty without them).
    cold: dict[str, ColdStart] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        figures: dict[str, dict[str, float]] = {
            name: {"median_us": round(m.median_us, 3), "p99_us": round(m.p99_us, 3)}
            for name, m in self.figures.items()
        }
        for name, stream in self.streams.items():
            figures[name] = {
                "median_us": round(stream.median_us, 3),
                "p99_us": round(stream.p99_us, 3),
                "messages_per_s": round(stream.messages_per_s, 1),
            }
        report: dict[str, object] = {
            "figures": figures,
            "calls": {name: m.calls for name, m in {**self.figures, **self.streams}.items()},
        }
        if self.throughput:
            report["throughput"] = {name: t.to_json() for name, t in self.throughput.items()}
        if self.deadlines:
            report["deadlines"] = {name: d.to_json() for name, d in self.deadlines.items()}
        if self.stream_payload:
            report["stream_payload"] = dict(self.stream_payload)
        if self.parallel:
            report["parallel"] = {name: p.to_json() for name, p in self.parallel.items()}
        if self.cold:
            report["cold_start"] = {name: c.to_json() for name, c in self.cold.items()}
        report.update(
            {
                "skipped": dict(self.skipped),
                "budgets": [check.to_json() for check in self.budgets],
                "payload": dict(self.payload),
                "machine": dict(self.machine),
            }
        )
        return report

    def figure_rows(self) -> list[list[str]]:
        """Rows of name, median, p99, ratio to Python's median (the same work in plain
        Python), what it is."""
        base = self.figures.get("python")
        rows = []
        for name, m in self.figures.items():
            ratio = f"{m.median_us / base.median_us:.2f}x" if base else "-"
            rows.append([name, f"{m.median_us:.2f}", f"{m.p99_us:.2f}", ratio, m.description])
        for name, reason in self.skipped.items():
            rows.append([name, "-", "-", "-", f"skipped: {reason}"])
        return rows

    def throughput_rows(self) -> list[list[str]]:
        """Rows of name, calls/s, ratio to the bare server on the same transport, the
        server's and the clients' CPU time per call (us), how busy the machine was, what."""
        rows = []
        transports = {fig.throughput_name: fig.transport for fig in SIDECAR_FIGURES}
        for name, t in self.throughput.items():
            transport = transports.get(name, name.rpartition("_")[0].rpartition("_")[2])
            bare = self.throughput.get(f"grpc_bare_{transport}_{t.clients}")
            ratio = f"{t.calls_per_s / bare.calls_per_s:.2f}x" if bare and bare.calls_per_s else "-"
            server, client, busy = (
                t.cpu_us_per_call(t.server_cpu_s),
                t.cpu_us_per_call(t.client_cpu_s),
                t.busy,
            )
            rows.append(
                [
                    name,
                    f"{t.calls_per_s:,.0f}",
                    ratio,
                    "-" if server is None else f"{server:.0f}",
                    "-" if client is None else f"{client:.0f}",
                    "-" if busy is None else f"{busy:.0%}",
                    t.description,
                ]
            )
        return rows

    def stream_rows(self) -> list[list[str]]:
        """Rows of name, messages/s, per message (median, p99, us), ratio of messages/s
        to the bare server's, what."""
        bare = self.streams.get("stream_grpc_bare_uds")
        rows = []
        for name, m in self.streams.items():
            ratio = f"{m.messages_per_s / bare.messages_per_s:.2f}x" if bare else "-"
            rows.append(
                [
                    name,
                    f"{m.messages_per_s:,.0f}",
                    f"{m.median_us:.2f}",
                    f"{m.p99_us:.2f}",
                    ratio,
                    m.description,
                ]
            )
        return rows

    @property
    def stream_title(self) -> str:
        p = self.stream_payload
        streams = next(iter(self.streams.values())).calls if self.streams else 0
        return (
            f"server streaming, {p.get('method')}: {p.get('messages', 0):,} messages, "
            f"{p.get('response_bytes', 0):,} B a stream; per message, over {streams} "
            f"stream{'s' if streams != 1 else ''}, nothing decoded"
        )

    def deadline_rows(self) -> list[list[str]]:
        """Rows of name, calls, the caller's lateness and the guest's overrun (median,
        max, ms), what."""
        return [
            [
                name,
                str(d.calls),
                f"{d.late_median_ms:.1f}",
                f"{d.late_max_ms:.1f}",
                f"{d.overrun_median_ms:.1f}",
                f"{d.overrun_max_ms:.1f}",
                d.description,
            ]
            for name, d in self.deadlines.items()
        ]

    @property
    def deadline_title(self) -> str:
        first = next(iter(self.deadlines.values()), None)
        deadline = f"{first.deadline_s:g} s" if first else "a"
        clock = f", by {first.guest_clock}" if first else ""
        ticker = f"; {first.ticker} ticker" if first else ""
        return (
            f"deadlines: a guest looping forever, {deadline} deadline; ms past it for the "
            f"caller (late) and for the guest (overrun{clock}){ticker}"
        )

    def parallel_rows(self) -> list[list[str]]:
        """Rows of name, calls/s (median of the rounds), ratio to one worker's, one
        call's us, what."""
        rows = []
        for name, p in self.parallel.items():
            one = self.parallel.get(name.rsplit("_", 1)[0] + "_1")
            ratio = f"{p.calls_per_s / one.calls_per_s:.2f}x" if one and one.calls_per_s else "-"
            rows.append([name, f"{p.calls_per_s:,.0f}", ratio, f"{p.call_us:.1f}", p.description])
        return rows

    def cold_rows(self) -> list[list[str]]:
        """Rows of name, ms (median of fresh processes), what, note."""
        return [[c.name, f"{c.ms:.1f}", c.description, c.note] for c in self.cold.values()]

    def budget_rows(self) -> list[list[str]]:
        return [[c.budget.text, c.measured_text, c.status] for c in self.budgets]

    @property
    def title(self) -> str:
        p = self.payload
        return (
            f"{p['method']}: {p['request_bytes']} B request, {p['response_bytes']} B response; "
            "per call, encode and decode included"
        )


def run_bench(
    *,
    iterations: int | None = None,
    seconds: float = DEFAULT_SECONDS,
    names: Sequence[str] | None = None,
    root: Path | None = None,
    progress: ProgressFn = _no_progress,
    on_skip: Callable[[str, str], None] | None = None,
    sidecar: bool = False,
    deadlines: bool = False,
    streaming: bool = False,
    stream_messages: int = STREAM_MESSAGES,
    parallel: bool | None = None,
) -> BenchResult:
    """Time the figures `names` (all registered ones by default, in interleaved rounds:
    see `measure_figures`) and check the budgets; with `parallel` (default: when `names`
    is not given), the threads and forked-workers figures (see `measure_parallel`);
    with `sidecar`, the sidecar figures too (see `measure_sidecar`) and their budgets;
    with `deadlines`, the deadline figures (see `measure_deadlines`) and their budget;
    with `streaming`, the streaming figures, streams of `stream_messages` (see
    `measure_streaming`), and their budget.

    Raises ProjectError when the bridge sources are not there, and the build's errors
    (ToolchainError, BuildError) when a guest cannot be built; SidecarError when a server
    of the sidecar figures fails. A figure that cannot run here is left out of `figures`
    and listed in `skipped` with the reason (`on_skip` is told at once).
    """
    ctx = Context(root or source_root(), progress)
    figures, rounds, skipped = measure_figures(
        [FIGURES[name] for name in names or list(FIGURES)],
        ctx,
        iterations=iterations,
        seconds=seconds,
        on_skip=on_skip,
    )
    parallel_figures: dict[str, Parallel] = {}
    cold: dict[str, ColdStart] = {}
    if parallel if parallel is not None else names is None:
        parallel_figures, parallel_skipped = measure_parallel(
            ctx, iterations=iterations, on_skip=on_skip
        )
        skipped.update(parallel_skipped)
        cold = measure_cold(ctx, runs=3 if iterations is not None else None)
    throughput: dict[str, Throughput] = {}
    if sidecar:
        latency, latency_rounds, throughput = measure_sidecar(
            ctx, iterations=iterations, seconds=seconds
        )
        figures.update(latency)
        rounds.update(latency_rounds)
    streams: dict[str, StreamMeasurement] = {}
    stream_payload: dict[str, object] = {}
    if streaming:
        stream_request, stream_answer = stream_reference(ctx, stream_messages)
        stream_payload = {
            "method": STREAM_METHOD,
            "request_bytes": len(stream_request),
            "messages": len(stream_answer),
            "response_bytes": sum(map(len, stream_answer)),
        }
        try:
            streams = measure_streaming(ctx, iterations=iterations, messages=stream_messages)
        except FigureSkipped as skip:
            for stream_figure in STREAM_FIGURES:
                skipped[stream_figure.name] = skip.reason
                if on_skip is not None:
                    on_skip(stream_figure.name, skip.reason)
    deadline_figures = measure_deadlines(progress, iterations=iterations) if deadlines else {}
    request = ctx.request.SerializeToString()
    payload = {
        "method": QUOTE_METHOD,
        "request_bytes": len(request),
        "response_bytes": len(python_quote(ctx.request_type, ctx.response_type, request)),
    }
    return BenchResult(
        figures=figures,
        skipped=skipped,
        budgets=[
            budget.check(
                figures,
                throughput,
                deadline_figures,
                streams,
                rounds=rounds,
                parallel=parallel_figures,
                cold=cold,
            )
            for budget in BUDGETS
            if (sidecar or not budget.sidecar)
            and (deadlines or not budget.deadline)
            and (streaming or not budget.streaming)
        ],
        machine=machine(),
        payload=payload,
        throughput=throughput,
        deadlines=deadline_figures,
        streams=streams,
        stream_payload=stream_payload,
        parallel=parallel_figures,
        cold=cold,
    )


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "wasmtime": _version_of("wasmtime"),
        "extism": _version_of("extism"),
        "protobuf": _version_of("protobuf"),
        "bridge": __version__,
        "platform": platform.platform(),
        "timer_overhead_ns": _timer_overhead_ns(),
    }


def _timer_overhead_ns(samples: int = 10_000) -> int:
    """The median cost of the two clock reads around each timed call, included in figures."""
    clock = time.perf_counter_ns
    gaps = []
    for _ in range(samples):
        start = clock()
        gaps.append(clock() - start)
    return int(statistics.median(gaps))


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    return platform.processor() or platform.machine()


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
