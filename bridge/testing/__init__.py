"""Check a port against the legacy function it replaces, on generated requests.

    from bridge.testing import diff

    def test_vat_port_agrees() -> None:
        diff("shopapp.pricing:vat_cents", examples=300).assert_agrees()

`diff` draws requests from the route's request type with Hypothesis, runs the legacy
Python function and the port (the route's wasm module or sidecar) on each, compares
them with the route's own rules, and returns the differences it found, each shrunk to
a minimal request. `bridge diff` is the same from the command line; the pytest plugin
(plugin.py) adds the `bridge_diff` marker. Hypothesis is needed only here: install
`bridge-wasm[diff]`. This package imports it on first use, so configuration (which
checks `where` domains with domains.py) never needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ToolchainError
from .domains import Domain, parse_domain, parse_where
from .results import Difference, DiffResult

if TYPE_CHECKING:
    from ..routing.router import Route

__all__ = [
    "DiffResult",
    "Difference",
    "Domain",
    "diff",
    "parse_domain",
    "parse_where",
]


def diff(
    target: str | Route | Callable[..., Any],
    *,
    examples: int = 5000,
    seed: int | None = None,
    timeout_s: float | None = None,
    where: Mapping[str, str | Domain] | None = None,
) -> DiffResult:
    """Diff one routed function against its port.

    target: `MODULE:FUNCTION` (imported from the current directory), the decorated
        function, or its Route.
    examples: how many requests each search draws (before shrinking).
    seed: makes the run repeatable; without it each run draws anew.
    timeout_s: the whole run's limit; what was found until then is kept.
    where: field domains over the route's configured ones: {"rate_permille": "0..1000"}
        (domains.py has the syntax).
    """
    result: DiffResult = require_hypothesis().run_diff(
        target, examples=examples, seed=seed, timeout_s=timeout_s, where=where
    )
    return result


def require_hypothesis() -> Any:
    """The runner module; ToolchainError saying what to install without Hypothesis (an
    optional extra, as a compiler is an optional tool)."""
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise ToolchainError(
            "bridge diff needs Hypothesis",
            tool="hypothesis",
            hint="install it with: pip install 'bridge-wasm[diff]'",
        ) from None
    from . import runner

    return runner
