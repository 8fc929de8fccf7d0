"""Diff a routed function: Hypothesis requests through Python and through the port.

Each request runs the legacy function (as Route.replay does) and the route's port (the
bridge side of a scratch plan: uncounted, inline, whatever the route's mode), and the
two outcomes are judged by the route's own rules: tolerances and ignore_fields,
compare= and ignore=, and errors= to map Python's exceptions to status codes. A search
stops at its first difference, which Hypothesis then shrinks; further searches look
for differences of other kinds.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis.errors import NoSuchExample

from ..errors import ConfigError, GuestError, RouteError, StatusCode
from ..imports import import_attribute
from ..routing.experiment import Mismatch, Outcome, Unmappable, control_outcome
from ..routing.router import Route
from ..routing.stats import Recorder
from ..routing.streams import python_stream_outcome
from .domains import Domain, parse_domain
from .results import Difference, DiffResult, describe_error, readable
from .strategies import message_strategy

__all__ = ["DEFAULT_EXAMPLES", "load_route", "run_diff"]

DEFAULT_EXAMPLES = 5000
#: Searches after the first, each for a kind of difference not found yet.
_MAX_SEARCHES = 3


def load_route(target: str | Route | Callable[..., Any]) -> Route:
    """The route of `MODULE:FUNCTION` (imported as the user's project runs it, from the
    current directory), of a decorated function, or a Route itself."""
    if isinstance(target, Route):
        return target
    if callable(target):
        return _route_of(target, getattr(target, "__qualname__", repr(target)))
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise RouteError(
            f"{target!r}: name a routed function as MODULE:FUNCTION, "
            "as in shopapp.pricing:vat_cents"
        )
    try:
        obj = import_attribute(target, module_name, attribute)
    except LookupError as exc:
        raise RouteError(str(exc)) from None
    return _route_of(obj, target)


def _route_of(fn: Any, name: str) -> Route:
    route = getattr(fn, "__bridge_route__", None)
    if not isinstance(route, Route):
        raise RouteError(f"{name} is not decorated with @bridge.route")
    return route


def where_of(route: Route, given: Mapping[str, str | Domain] | None) -> dict[str, Domain]:
    """The route's configured domains ([tool.bridge.routes."M".diff] where), with
    `given` over them."""
    domains = dict(route.router.settings(route.method).diff.where)
    for path, domain in (given or {}).items():
        if isinstance(domain, Domain):
            domains[path] = domain
            continue
        try:
            domains[path] = parse_domain(domain)
        except ValueError as exc:
            raise ConfigError(f"where {path}={domain}: {exc}") from None
    return domains


class _Sides:
    """Python and the port of one route, each run on a request, and the verdict."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.method = route.method
        _check_port(route)
        self.plan = route.router.replay_plan(route)  # ConfigError on any other problem
        config = route.router.settings(route.method)
        self.experiment = route.experiment(config, Recorder(self.method, "diff", "bridge"), deque())
        code = getattr(route.fn, "__code__", None)
        if code is not None and code.co_varnames[:1] in (("self",), ("cls",)):
            raise RouteError(f"{self.method}: diff calls functions, not methods")

    def python(self, request: Message) -> Outcome:
        binding = self.route.binding
        if binding.streaming:  # a generator: its whole stream is Python's answer
            return python_stream_outcome(
                self.route.fn, (), binding.to_kwargs(request), binding.to_message
            )
        try:
            value = self.route.fn(**self.route.binding.to_kwargs(request))
            if self.route.is_async:
                value = asyncio.run(value)
        except Exception as exc:  # noqa: BLE001 - compared, not raised
            return Outcome(error=exc)
        return control_outcome(value, self.route.binding.to_message)

    def code_of(self, error: BaseException) -> int:
        """The status code the port answers for what Python raised, by errors=."""
        for code, kind in self.route.options.errors.items():
            if isinstance(error, kind):
                return int(code)
        return int(StatusCode.UNKNOWN)

    def judge(self, request: Message) -> Difference | None:
        python = self.python(request)
        port = self.plan.candidate(request, None)

        def found(kind: str, lines: tuple[str, ...] = ()) -> Difference:
            return Difference(
                self.method,
                kind,
                readable(request),
                self.shown(python, mapped=True),
                self.shown(port, mapped=False),
                lines,
                message=request,
            )

        try:
            kind, lines = self.verdict(request, python, port)
            if kind is None:
                return None
            mismatch = Mismatch(self.method, kind, request, python, port, lines)
            if any(rule(mismatch) for rule in self.route.options.ignore):
                return None
        except Exception as exc:  # noqa: BLE001 - a user's compare= or ignore= raised
            return found("compare-error", (repr(exc),))
        return found(kind, lines)

    def verdict(
        self, request: Message, python: Outcome, port: Outcome
    ) -> tuple[str | None, tuple[str, ...]]:
        if isinstance(python.error, Unmappable):
            return "unmappable", (str(python.error),)
        if python.error is not None and port.error is not None:
            if not isinstance(port.error, GuestError):
                return "port-error", ()
            mine, theirs = self.code_of(python.error), int(port.error.code)
            if mine == theirs:
                return None, ()
            return "error-code", (f"status: {StatusCode(mine).name} != {StatusCode(theirs).name}",)
        if python.error is not None:
            return "python-error", ()
        if port.error is not None:
            return "port-error", ()
        mismatch = self.experiment.compare_outcomes(request, python, port)
        if mismatch is None:
            return None, ()
        return "value", mismatch.differences

    def shown(self, outcome: Outcome, *, mapped: bool) -> dict[str, Any]:
        """An outcome as readable JSON; Python's errors with the code errors= gives them."""
        if outcome.values is not None:  # a stream: its messages, then its error if any
            shown: dict[str, Any] = {"messages": [readable(m) for m in outcome.values]}
            if outcome.error is not None:
                shown["then"] = self.shown(Outcome(error=outcome.error), mapped=mapped)
            return shown
        if outcome.error is None:
            assert outcome.value is not None
            return readable(outcome.value)
        unmappable = isinstance(outcome.error, Unmappable)
        code = self.code_of(outcome.error) if mapped and not unmappable else None
        return describe_error(outcome.error, code)


def _check_port(route: Route) -> None:
    config = route.router.settings(route.method)
    if (config.backend_kind() or config.candidate) != "wasm":
        return
    if route.router.config.module_for(route.method, config) is None:
        service = route.method.split("/")[0]
        raise ConfigError(
            f'{route.method}: no port to diff against: add "{service}" = '
            '"path/to/module.wasm" to [tool.bridge.services], or run from the project\'s '
            "folder so that its configuration is found"
        )


def run_diff(
    target: str | Route | Callable[..., Any],
    *,
    examples: int = DEFAULT_EXAMPLES,
    seed: int | None = None,
    timeout_s: float | None = None,
    where: Mapping[str, str | Domain] | None = None,
    on_example: Callable[[int], None] | None = None,
) -> DiffResult:
    """Diff one route; see bridge.testing.diff."""
    started = time.monotonic()
    deadline = None if timeout_s is None else started + timeout_s
    route = load_route(target)
    label = target if isinstance(target, str) else route.fn.__qualname__
    sides = _Sides(route)
    strategy = message_strategy(route.binding.request_class.DESCRIPTOR, where_of(route, where))
    rng = None if seed is None else random.Random(seed)
    tried = 0
    timed_out = False
    found: list[Difference] = []
    kinds: set[str] = set()
    last: list[Difference] = []

    def differs(request: Message) -> bool:
        nonlocal tried
        if deadline is not None and time.monotonic() > deadline:
            raise _OutOfTime
        tried += 1
        if on_example is not None:
            on_example(tried)
        difference = sides.judge(request)
        if difference is None or difference.kind in kinds:
            return False
        last.append(difference)  # the newest is the smallest: shrinking only goes down
        return True

    for _ in range(_MAX_SEARCHES):
        last.clear()
        try:
            minimal = find(strategy, differs, settings=_settings(examples), random=rng)
        except NoSuchExample:
            break
        except _OutOfTime:
            timed_out = True
            if last:
                found.append(last[-1])
            break
        found.append(sides.judge(minimal) or last[-1])
        kinds.add(found[-1].kind)
    return DiffResult(
        target=label,
        method=route.method,
        examples=tried,
        differences=tuple(found),
        elapsed_s=time.monotonic() - started,
        timed_out=timed_out,
    )


class _OutOfTime(BaseException):
    """Raised past the deadline. Not an Exception: Hypothesis lets it through at once
    instead of taking it for a failure to shrink."""


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        database=None,  # no .hypothesis folder in the user's project
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink),
        deadline=None,
    )
