"""Runtime configuration: frozen values, read once at the edge.

`RuntimeConfig()` holds the defaults; `RuntimeConfig.from_env()` applies `BRIDGE_*`
environment variables over them. This is the only module that reads `os.environ` for
bridge settings. A config is never changed after it is made: make a new one with
`dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

from . import abi
from .errors import ConfigError
from .resources import user_cache_dir

__all__ = [
    "BridgeConfig",
    "DiffConfig",
    "Engine",
    "Mode",
    "RouteConfig",
    "RuntimeConfig",
    "ShadowConfig",
    "SidecarConfig",
    "default_cache_dir",
    "env_key",
    "find_config",
    "load_config",
]

Engine = Literal["wasmtime", "wasmer"]
ENGINES: tuple[Engine, ...] = ("wasmtime", "wasmer")


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/bridge/modules`, else `~/.cache/bridge/modules`."""
    return user_cache_dir() / "modules"


# The largest value of each kind of setting. A bigger one is a mistake (a unit
# mix-up, a stray exponent) that would otherwise surface later as an OverflowError,
# a wrapped ctypes integer or a wait that never ends.
#: Seconds: a deadline or wait longer than a day (`none` turns a call deadline off).
MAX_SECONDS = 86_400
#: A wasm32 memory cannot grow past 4 GiB.
MAX_MEMORY_BYTES = 4 << 30
#: Instances of one module (each reserves about 6 GiB of address space).
MAX_POOL_SIZE = 1024
#: wasmtime keeps fuel in a signed 64-bit counter.
MAX_FUEL = (1 << 63) - 1
#: Off-thread shadow calls waiting at once.
MAX_QUEUE_SIZE = 1_000_000


@dataclass(frozen=True, slots=True)
class _Range:
    """What a numeric setting accepts: a finite number (a whole one if `whole`) above
    zero (or zero too, if `zero`) and at most `high`; None too if `none`."""

    high: float
    whole: bool = False
    zero: bool = False
    none: bool = False

    def problem(self, value: object) -> str | None:
        """Why `value` does not fit, as the tail of a message that names the key."""
        if value is None and self.none:
            return None
        kind = "whole number" if self.whole else "number"
        # bool is an int to Python, never to a user.
        if isinstance(value, bool) or not isinstance(value, int if self.whole else int | float):
            return f"must be a {kind}, not {value!r}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, not {value!r}"
        if self.zero:
            if 0 <= value <= self.high:
                return None
            if self.high == math.inf:
                return f"must not be negative, not {value!r}"
            return f"must be between 0 and {self.high:_}, not {value!r}"
        if value <= 0:
            return f"must be positive, not {value!r}"
        if value > self.high:
            return f"must be at most {self.high:_}, not {value!r}"
        return None


def _check(name: str, value: object, rule: _Range) -> None:
    reason = rule.problem(value)
    if reason is not None:
        raise ConfigError(f"{name}: {reason}")


_SECONDS = _Range(MAX_SECONDS)
_PERCENT = _Range(100, zero=True)
_TOLERANCE = _Range(math.inf, zero=True)
_QUEUE = _Range(MAX_QUEUE_SIZE, whole=True)
# A managed sidecar's workers become its pool size.
_WORKERS = _Range(MAX_POOL_SIZE, whole=True)
#: The most server processes a managed sidecar may run (`bridge serve --processes`).
MAX_SIDECAR_PROCESSES = 64
_PROCESSES = _Range(MAX_SIDECAR_PROCESSES, whole=True)
_RUNTIME_NUMBERS = {
    "pool_size": _Range(MAX_POOL_SIZE, whole=True),
    "pool_min_idle": _Range(MAX_POOL_SIZE, whole=True, zero=True),
    "pool_wait_s": _SECONDS,
    "call_timeout_s": _Range(MAX_SECONDS, none=True),
    "memory_limit_bytes": _Range(MAX_MEMORY_BYTES, whole=True),
    "fuel": _Range(MAX_FUEL, whole=True, none=True),
    "max_message_bytes": _Range(abi.MAX_MESSAGE_LEN, whole=True),
    "max_module_bytes": _Range(1 << 32, whole=True),
}


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """How modules are compiled, pooled, limited and sandboxed.

    >>> from bridge.config import RuntimeConfig
    >>> RuntimeConfig(call_timeout_s=0.5, memory_limit_bytes=64 << 20).pool_size >= 1
    True
    """

    #: The engine: wasmtime (every kind of module) or wasmer (WASI commands only).
    engine: Engine = "wasmtime"
    #: Where compiled modules are cached; None disables the cache.
    cache_dir: Path | None = field(default_factory=default_cache_dir)
    #: The most instances of one module alive at once (the most concurrent calls).
    pool_size: int = 8
    #: Instances kept ready ahead of need, made off the caller's path.
    pool_min_idle: int = 1
    #: How long a call waits for a free instance before PoolExhausted.
    pool_wait_s: float = 10.0
    #: Each call's deadline (DeadlineExceeded past it); None for no deadline.
    call_timeout_s: float | None = 10.0
    #: The most linear memory one instance may have, in bytes.
    memory_limit_bytes: int = 256 * 1024 * 1024
    #: Fuel (roughly, wasm instructions) per call; None disables fuel metering.
    fuel: int | None = None
    #: The largest request or response in bytes.
    max_message_bytes: int = abi.DEFAULT_MAX_MESSAGE_BYTES
    #: The largest .wasm file compiled: compile time and memory grow with its size.
    max_module_bytes: int = 16 * 1024 * 1024
    #: Environment variables the guest sees (WASI); none unless granted.
    wasi_env: Mapping[str, str] = field(default_factory=dict)
    #: Host directories the guest may open (WASI), host path -> guest path; none by default.
    wasi_dirs: Mapping[str, str] = field(default_factory=dict)
    #: Let the guest write to this process's stdout/stderr instead of logging.
    inherit_stdio: bool = False

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"engine: must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        for name, rule in _RUNTIME_NUMBERS.items():
            _check(name, getattr(self, name), rule)
        if self.pool_min_idle > self.pool_size:
            raise ConfigError(
                f"pool_min_idle: must be between 0 and pool_size ({self.pool_size}), "
                f"not {self.pool_min_idle}"
            )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, base: RuntimeConfig | None = None
    ) -> RuntimeConfig:
        """`base` (default: the defaults) with `BRIDGE_*` variables applied; ConfigError
        names a bad one.

        BRIDGE_ENGINE, BRIDGE_CACHE_DIR (a path, or `off`), BRIDGE_POOL_SIZE,
        BRIDGE_POOL_WAIT_S, BRIDGE_CALL_TIMEOUT_S (seconds, or `none`),
        BRIDGE_MEMORY_LIMIT_MB, BRIDGE_FUEL (a count, or `none`), BRIDGE_MAX_MODULE_MB.
        """
        env = os.environ if environ is None else environ
        changes: dict[str, object] = {}
        if "BRIDGE_ENGINE" in env:
            changes["engine"] = env["BRIDGE_ENGINE"]
        if "BRIDGE_CACHE_DIR" in env:
            folder = env["BRIDGE_CACHE_DIR"]
            changes["cache_dir"] = None if folder.lower() in ("", "off", "none") else Path(folder)
        for name, key, parse, scale in (
            ("pool_size", "BRIDGE_POOL_SIZE", int, 1),
            ("pool_wait_s", "BRIDGE_POOL_WAIT_S", float, 1),
            ("call_timeout_s", "BRIDGE_CALL_TIMEOUT_S", _optional(float), 1),
            ("memory_limit_bytes", "BRIDGE_MEMORY_LIMIT_MB", int, 1 << 20),
            ("fuel", "BRIDGE_FUEL", _optional(int), 1),
            ("max_module_bytes", "BRIDGE_MAX_MODULE_MB", int, 1 << 20),
        ):
            if key not in env:
                continue
            try:
                parsed = parse(env[key])
            except ValueError:
                raise ConfigError(f"{key}={env[key]!r} is not a valid value") from None
            # Checked in the variable's own unit, so the message names what the user wrote.
            rule = _RUNTIME_NUMBERS[name]
            reason = dataclasses.replace(rule, high=rule.high // scale).problem(parsed)
            if reason is not None:
                raise ConfigError(f"{key}={env[key]!r}: {reason}")
            changes[name] = parsed if parsed is None else parsed * scale
        return dataclasses.replace(base or cls(), **changes)  # type: ignore[arg-type]


def _optional(parse: type[int] | type[float]):  # type: ignore[no-untyped-def]
    def parse_optional(value: str) -> int | float | None:
        return None if value.lower() in ("none", "off", "") else parse(value)

    return parse_optional


# --- Routing: which implementation answers each routed function ----------------------

ModeKind = Literal["python", "wasm", "sidecar", "shadow", "canary"]
MODE_KINDS: tuple[ModeKind, ...] = ("python", "wasm", "sidecar", "shadow", "canary")
Candidate = Literal["wasm", "sidecar"]
CONFIG_FILE = "bridge.toml"


@dataclass(frozen=True, slots=True)
class Mode:
    """Who answers a routed function: `python`, `wasm`, `sidecar`, `shadow`, `canary:N`.

    >>> Mode.parse("canary:5")
    Mode(kind='canary', percent=5.0)
    >>> str(Mode.parse("shadow"))
    'shadow'
    """

    kind: ModeKind
    #: canary only: the share of calls, in percent, that the candidate answers.
    percent: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Mode:
        """The mode that `text` names; ValueError says what is wrong with it."""
        name, _, arg = text.strip().partition(":")
        if name == "canary":
            try:
                percent = float(arg)
            except ValueError:
                raise ValueError(f"{text!r}: canary takes a percentage, as in canary:5") from None
            if not 0 <= percent <= 100:
                raise ValueError(f"{text!r}: the canary percentage must be between 0 and 100")
            return cls("canary", percent)
        if name not in MODE_KINDS or arg:
            raise ValueError(f"{text!r} is not a mode ({', '.join(MODE_KINDS[:-1])}, canary:N)")
        return cls(name)  # type: ignore[arg-type, unused-ignore]

    def __str__(self) -> str:
        return f"canary:{self.percent:g}" if self.kind == "canary" else self.kind


@dataclass(frozen=True, slots=True)
class ShadowConfig:
    """How `shadow` mode runs and compares the candidate next to Python."""

    #: Run the candidate on the caller's thread, in random order with Python; else off it.
    inline: bool = False
    #: The candidate's own deadline, whatever the function's.
    timeout_s: float = 1.0
    #: The share of calls, in percent, that also run the candidate.
    sample_percent: float = 100.0
    #: Floats and doubles equal within this absolute difference...
    float_abs_tolerance: float = 0.0
    #: ... or within this relative difference.
    float_rel_tolerance: float = 0.0
    #: Response fields left out of the comparison, as dotted paths (`lines.note`).
    ignore_fields: tuple[str, ...] = ()
    #: Raise ShadowMismatch on any mismatch (for test suites); implies inline.
    strict: bool = False
    #: Off-thread candidates waiting beyond this many are dropped (and counted).
    queue_size: int = 1000

    def __post_init__(self) -> None:
        _check("timeout_s", self.timeout_s, _SECONDS)
        _check("sample_percent", self.sample_percent, _PERCENT)
        _check("float_abs_tolerance", self.float_abs_tolerance, _TOLERANCE)
        _check("float_rel_tolerance", self.float_rel_tolerance, _TOLERANCE)
        _check("queue_size", self.queue_size, _QUEUE)


@dataclass(frozen=True, slots=True)
class DiffConfig:
    """How `bridge diff` draws this route's requests: the legacy function's preconditions."""

    #: (dotted field path, domain text) pairs, as bridge/testing/domains.py parses them.
    where: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """The settings of one routed function (or the defaults every route starts from)."""

    mode: Mode = Mode("python")
    #: What answers for `bridge` in shadow and canary modes.
    candidate: Candidate = "wasm"
    #: Answer with Python when the bridge fails (each time counted and logged).
    fallback: bool = False
    #: Deadline of a wasm or sidecar call; None takes the runtime's (or sidecar's).
    timeout_s: float | None = None
    #: The module that serves this function, over the service's entry in `services`.
    module: Path | None = None
    shadow: ShadowConfig = field(default_factory=ShadowConfig)
    diff: DiffConfig = field(default_factory=DiffConfig)

    def __post_init__(self) -> None:
        if self.timeout_s is not None:
            _check("timeout_s", self.timeout_s, _SECONDS)

    def backend_kind(self) -> Candidate | None:
        """What the bridge side of this route is: wasm, sidecar, or None in python mode."""
        kind = self.mode.kind
        if kind == "python":
            return None
        if kind in ("wasm", "sidecar"):
            return kind
        return self.candidate


@dataclass(frozen=True, slots=True)
class SidecarConfig:
    """The sidecar of `sidecar` mode: one that runs (`target`), or one this process
    starts and stops itself, serving the modules in [services] (`managed`).

    A file that sets both `target` and `managed = true` is a ConfigError. BRIDGE_SIDECAR
    (a target) wins over the file: when it is set, the file's `target` and `managed`
    are both ignored, so a deployment can point a managed configuration at a real one.
    """

    #: A gRPC target: `unix:///path/to.sock`, `host:port`, `ipv4:a:1,b:2`, `dns:///...`.
    target: str | None = None
    #: Start `bridge serve` as a child process (restarted if it dies, gone with us).
    managed: bool = False
    #: Calls a managed sidecar serves at once (in each of its processes).
    workers: int = 4
    #: Server processes of a managed sidecar (`bridge serve --processes`).
    processes: int = 1
    #: Deadline of a sidecar call.
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        _check("workers", self.workers, _WORKERS)
        _check("processes", self.processes, _PROCESSES)
        _check("timeout_s", self.timeout_s, _SECONDS)


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    """Everything `[tool.bridge]` (pyproject.toml) or bridge.toml says, with `BRIDGE_*`
    environment variables applied; `load_config()` reads it.

    >>> BridgeConfig().route("shop.v1.Pricing/Quote").mode
    Mode(kind='python', percent=0.0)
    """

    #: The file it was read from; relative paths in it are relative to its folder.
    source: Path | None = None
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    sidecar: SidecarConfig = field(default_factory=SidecarConfig)
    #: Which module serves each service: `pkg.Service` -> .wasm path.
    services: Mapping[str, Path] = field(default_factory=dict)
    #: The settings every route starts from.
    defaults: RouteConfig = field(default_factory=RouteConfig)
    #: Each routed function's own settings, by full method name (`pkg.Service/Method`).
    routes: Mapping[str, RouteConfig] = field(default_factory=dict)
    #: Environment overrides of the mode: method name (or "" for all) -> mode.
    env_modes: Mapping[str, Mode] = field(default_factory=dict)
    env_fallback: Mapping[str, bool] = field(default_factory=dict)
    #: BRIDGE_SHADOW_STRICT: every shadow route raises on a mismatch (for test suites).
    env_strict: bool | None = None
    #: Where each process writes its call statistics for `bridge report`; None: nowhere.
    report_dir: Path | None = None
    #: Seconds between report writes (also written at exit).
    report_interval_s: float = 10.0
    #: OpenTelemetry spans around routed calls (needs opentelemetry-api).
    tracing: bool = False

    def __post_init__(self) -> None:
        _check("report_interval_s", self.report_interval_s, _SECONDS)

    def route(self, method: str) -> RouteConfig:
        """`method`'s settings: its table over the defaults, then the environment."""
        config = self.routes.get(method, self.defaults)
        key = env_key(method)
        mode = self.env_modes.get(key, self.env_modes.get(""))
        fallback = self.env_fallback.get(key, self.env_fallback.get(""))
        if mode is not None:
            config = dataclasses.replace(config, mode=mode)
        if fallback is not None:
            config = dataclasses.replace(config, fallback=fallback)
        if self.env_strict is not None:
            shadow = dataclasses.replace(config.shadow, strict=self.env_strict)
            config = dataclasses.replace(config, shadow=shadow)
        return config

    def module_for(self, method: str, route: RouteConfig | None = None) -> Path | None:
        """The module that serves `method`: the route's own (`route`, else its settings
        here), else its service's."""
        own = (route or self.route(method)).module
        return own if own is not None else self.services.get(method.partition("/")[0])


def env_key(method: str) -> str:
    """The suffix of `method`'s environment variables: `shop.v1.Pricing/Quote` ->
    `SHOP_V1_PRICING_QUOTE` (as in BRIDGE_MODE_SHOP_V1_PRICING_QUOTE=wasm)."""
    return "".join(c if c.isalnum() else "_" for c in method).upper()


def find_config(start: Path) -> Path | None:
    """The nearest bridge.toml, or pyproject.toml with a [tool.bridge] table, from `start`
    up to the project's root (the first folder with a pyproject.toml or .git)."""
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder / CONFIG_FILE
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            return pyproject if "bridge" in _read_toml(pyproject).get("tool", {}) else None
        if (folder / ".git").exists():
            return None
    return None


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    start: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> BridgeConfig:
    """Read the configuration: `path`, else $BRIDGE_CONFIG, else the nearest file from
    `start` (default: the working directory) up; no file means the defaults. `BRIDGE_*`
    variables apply over what the file says. ConfigError names the key and the reason.

    Environment: BRIDGE_MODE (every route), BRIDGE_MODE_<METHOD> (one route, see
    env_key), BRIDGE_FALLBACK and BRIDGE_FALLBACK_<METHOD> (1/0), BRIDGE_SHADOW_STRICT
    (1/0: every shadow route raises ShadowMismatch, for test suites), BRIDGE_SIDECAR (a
    target, over the file's [sidecar] target and managed, see SidecarConfig),
    BRIDGE_REPORT_DIR (a path, or `off`), BRIDGE_TRACING (1/0), and RuntimeConfig's.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get("BRIDGE_CONFIG"):
        path = env["BRIDGE_CONFIG"]
    if path is None:
        found = find_config((start or Path.cwd()).resolve())
    else:
        found = Path(path)
        if not found.is_file():
            raise ConfigError(f"{found}: no such configuration file")
    table: dict[str, object] = {}
    prefix = ""
    if found is not None:
        data = _read_toml(found)
        if found.name == "pyproject.toml":
            table = dict(data.get("tool", {}).get("bridge", {}))
            prefix = "tool.bridge."
        else:
            table = data
    reader = _TableReader(found, prefix)
    return reader.config(table, env)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            data: dict[str, Any] = tomllib.load(file)
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None


class _TableReader:
    """Turns the TOML tables into the frozen configs, naming the key of any bad value."""

    def __init__(self, source: Path | None, prefix: str) -> None:
        self.source = source
        self.prefix = prefix
        self.base = source.parent if source is not None else Path.cwd()

    def fail(self, key: str, reason: str) -> ConfigError:
        where = f"{self.source}: " if self.source is not None else ""
        return ConfigError(f"{where}{self.prefix}{key}: {reason}")

    def config(self, table: Mapping[str, object], env: Mapping[str, str]) -> BridgeConfig:
        self.check_keys("", table, _TOP_KEYS)
        runtime = self.runtime(self.table(table, "runtime"), env)
        sidecar_table = self.table(table, "sidecar")
        self.check_keys("sidecar.", sidecar_table, _SIDECAR_KEYS)
        target = self.typed(sidecar_table, "sidecar.", "target", str)
        managed = bool(self.typed(sidecar_table, "sidecar.", "managed", bool, False))
        if target is not None and managed:
            raise self.fail(
                "sidecar.managed",
                f"cannot be true together with {self.prefix}sidecar.target: choose one "
                "(target: a sidecar that runs; managed: one this process starts)",
            )
        env_target = env.get("BRIDGE_SIDECAR")
        sidecar = SidecarConfig(
            # BRIDGE_SIDECAR points at a sidecar that runs: it wins over both ways of the file
            target=env_target or target,
            managed=managed and not env_target,
            workers=self.bounded(sidecar_table, "sidecar.", "workers", 4, _WORKERS),
            processes=self.bounded(sidecar_table, "sidecar.", "processes", 1, _PROCESSES),
            timeout_s=self.bounded(sidecar_table, "sidecar.", "timeout_s", 10.0, _SECONDS),
        )
        services = {}
        for service, value in self.table(table, "services").items():
            if not isinstance(value, str):
                raise self.fail(f'services."{service}"', "must be the path of a .wasm module")
            if "/" in service or "." not in service:
                raise self.fail(
                    f'services."{service}"', "keys are full service names, as in shop.v1.Pricing"
                )
            services[service] = self.path(value)
        defaults = self.route("defaults.", self.table(table, "defaults"), RouteConfig())
        routes = {}
        for method, value in self.table(table, "routes").items():
            if not isinstance(value, Mapping):
                raise self.fail(f'routes."{method}"', "must be a table")
            if not abi.is_method_export(method):
                raise self.fail(
                    f'routes."{method}"', "keys are full method names, as in shop.v1.Pricing/Quote"
                )
            routes[method] = self.route(f'routes."{method}".', value, defaults)
        env_modes, env_fallback = _env_routes(env)
        report_dir: Path | None = None
        if "report_dir" in table:
            report_dir = self.path(self.typed(table, "", "report_dir", str))
        elif self.source is not None:
            report_dir = self.base / ".bridge" / "report"
        if "BRIDGE_REPORT_DIR" in env:
            value = env["BRIDGE_REPORT_DIR"]
            report_dir = None if value.lower() in ("", "off", "none") else Path(value)
        tracing = bool(self.typed(table, "", "tracing", bool, False))
        if "BRIDGE_TRACING" in env:
            tracing = _env_bool("BRIDGE_TRACING", env["BRIDGE_TRACING"])
        strict = None
        if "BRIDGE_SHADOW_STRICT" in env:
            strict = _env_bool("BRIDGE_SHADOW_STRICT", env["BRIDGE_SHADOW_STRICT"])
        config = BridgeConfig(
            source=self.source,
            runtime=runtime,
            sidecar=sidecar,
            services=services,
            defaults=defaults,
            routes=routes,
            env_modes=env_modes,
            env_fallback=env_fallback,
            env_strict=strict,
            report_dir=report_dir,
            report_interval_s=self.bounded(table, "", "report_interval_s", 10.0, _SECONDS),
            tracing=tracing,
        )
        for method in routes:
            problem = route_problem(config, method)
            if problem:
                raise self.fail(f'routes."{method}".mode', problem)
        return config

    def runtime(self, table: Mapping[str, object], env: Mapping[str, str]) -> RuntimeConfig:
        names = [f.name for f in dataclasses.fields(RuntimeConfig)]
        self.check_keys("runtime.", table, names)
        changes: dict[str, object] = {}
        for name, value in table.items():
            if name in _RUNTIME_NUMBERS:
                reason = _RUNTIME_NUMBERS[name].problem(value)
                if reason is not None:
                    raise self.fail(f"runtime.{name}", reason)
                changes[name] = value
            elif name == "cache_dir":
                changes[name] = None if value is False else self.path(str(value))
            elif name in ("wasi_env", "wasi_dirs"):
                if not isinstance(value, Mapping):
                    raise self.fail(f"runtime.{name}", "must be a table of strings")
                changes[name] = {str(k): str(v) for k, v in value.items()}
            else:
                changes[name] = value
        try:
            file_config = dataclasses.replace(RuntimeConfig(), **changes)  # type: ignore[arg-type]
        except ConfigError as exc:
            # RuntimeConfig's messages start with the key: "pool_min_idle: must be ..."
            key, _, reason = str(exc).partition(": ")
            raise self.fail(f"runtime.{key}", reason) from None
        except TypeError as exc:
            raise self.fail("runtime", str(exc)) from None
        return RuntimeConfig.from_env(env, base=file_config)

    def route(self, where: str, table: Mapping[str, object], base: RouteConfig) -> RouteConfig:
        self.check_keys(where, table, _ROUTE_KEYS)
        changes: dict[str, object] = {}
        if "mode" in table:
            try:
                changes["mode"] = Mode.parse(str(self.typed(table, where, "mode", str)))
            except ValueError as exc:
                raise self.fail(f"{where}mode", str(exc)) from None
        if "candidate" in table:
            candidate = self.typed(table, where, "candidate", str)
            if candidate not in ("wasm", "sidecar"):
                raise self.fail(f"{where}candidate", f"{candidate!r} is not wasm or sidecar")
            changes["candidate"] = candidate
        if "fallback" in table:
            changes["fallback"] = self.typed(table, where, "fallback", bool)
        if "timeout_s" in table:
            changes["timeout_s"] = self.bounded(table, where, "timeout_s", None, _SECONDS)
        if "module" in table:
            changes["module"] = self.path(str(self.typed(table, where, "module", str)))
        if "shadow" in table:
            shadow = self.table(table, "shadow", where)
            changes["shadow"] = self.shadow(f"{where}shadow.", shadow, base.shadow)
        if "diff" in table:
            changes["diff"] = self.diff(f"{where}diff.", self.table(table, "diff", where))
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    def diff(self, where: str, table: Mapping[str, object]) -> DiffConfig:
        """`bridge diff`'s table: `where = {field = "domain"}`, each domain checked now."""
        from .testing.domains import parse_where

        self.check_keys(where, table, ("where",))
        domains = []
        for path, text in self.table(table, "where", where).items():
            if not isinstance(text, str):
                raise self.fail(
                    f"{where}where.{path}",
                    f'must be a domain string, not {text!r} (quote a dotted path: "a.b" = "1..9")',
                )
            try:
                domains.append(parse_where(f"{path}={text}"))
            except ValueError as exc:
                raise self.fail(f"{where}where.{path}", str(exc)) from None
        return DiffConfig(where=tuple(domains))

    def shadow(self, where: str, table: Mapping[str, object], base: ShadowConfig) -> ShadowConfig:
        """A shadow table over `base` (the defaults' shadow settings): keys it leaves out
        keep their value there."""
        names = [f.name for f in dataclasses.fields(ShadowConfig)]
        self.check_keys(where, table, names)
        ignore = self.typed(table, where, "ignore_fields", list, list(base.ignore_fields))
        if not all(isinstance(item, str) for item in ignore):
            raise self.fail(f"{where}ignore_fields", "must be a list of field paths")
        sample = self.bounded(table, where, "sample_percent", base.sample_percent, _PERCENT)
        tolerances = {
            name: float(self.bounded(table, where, name, getattr(base, name), _TOLERANCE))
            for name in ("float_abs_tolerance", "float_rel_tolerance")
        }
        return ShadowConfig(
            inline=bool(self.typed(table, where, "inline", bool, base.inline)),
            timeout_s=float(self.bounded(table, where, "timeout_s", base.timeout_s, _SECONDS)),
            sample_percent=float(sample),
            ignore_fields=tuple(ignore),
            strict=bool(self.typed(table, where, "strict", bool, base.strict)),
            queue_size=self.bounded(table, where, "queue_size", base.queue_size, _QUEUE),
            **tolerances,
        )

    def table(self, table: Mapping[str, object], key: str, where: str = "") -> Mapping[str, Any]:
        value = table.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(f"{where}{key}", "must be a table")
        return value

    def check_keys(self, where: str, table: Mapping[str, object], known: Sequence[str]) -> None:
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
                raise self.fail(f"{where}{key}", f"unknown key; {hint}")

    def typed(
        self, table: Mapping[str, object], where: str, key: str, kind: type, default: Any = None
    ) -> Any:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.fail(f"{where}{key}", f"must be a {_KIND_NAMES[kind]}, not {value!r}")
        return value

    def bounded(
        self, table: Mapping[str, object], where: str, key: str, default: Any, rule: _Range
    ) -> Any:
        """The number at `key` (`default` when absent), if `rule` accepts it."""
        if key not in table:
            return default
        reason = rule.problem(table[key])
        if reason is not None:
            raise self.fail(f"{where}{key}", reason)
        return table[key]

    def path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base / path


_TOP_KEYS = (
    "runtime",
    "sidecar",
    "services",
    "defaults",
    "routes",
    "report_dir",
    "report_interval_s",
    "tracing",
)
_SIDECAR_KEYS = ("target", "managed", "workers", "processes", "timeout_s")
_ROUTE_KEYS = ("mode", "candidate", "fallback", "timeout_s", "module", "shadow", "diff")
_KIND_NAMES = {str: "string", bool: "boolean (true/false)", list: "list", int: "whole number"}


def route_problem(
    config: BridgeConfig, method: str, route: RouteConfig | None = None
) -> str | None:
    """Why `method` cannot run in its mode (a missing module or sidecar address); `route`
    is its settings when they are not the configuration's own (a run-time flip)."""
    route = route or config.route(method)
    kind = route.backend_kind()
    if kind == "wasm":
        module = config.module_for(method, route)
        if module is None:
            service = method.partition("/")[0]
            return (
                f"{route.mode} needs a module for {method}: add "
                f'"{service}" = "path/to/module.wasm" to [services]'
            )
        if not module.is_file():
            return f"{route.mode} needs {module}, which does not exist (bridge build makes it)"
    if kind == "sidecar" and config.sidecar.target is None:
        if not config.sidecar.managed:
            return (
                f"{route.mode} needs a sidecar: set target (where one runs) or "
                "managed = true (start one) in [sidecar]"
            )
        if not config.services:
            return f"{route.mode} with a managed sidecar needs the modules it serves in [services]"
    return None


def _env_routes(env: Mapping[str, str]) -> tuple[dict[str, Mode], dict[str, bool]]:
    modes: dict[str, Mode] = {}
    fallback: dict[str, bool] = {}
    for name, value in env.items():
        if name == "BRIDGE_MODE" or name.startswith("BRIDGE_MODE_"):
            try:
                modes[name[len("BRIDGE_MODE_") :]] = Mode.parse(value)
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        elif name == "BRIDGE_FALLBACK" or name.startswith("BRIDGE_FALLBACK_"):
            fallback[name[len("BRIDGE_FALLBACK_") :]] = _env_bool(name, value)
    return modes, fallback


def _env_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}={value!r}: use 1 or 0")
