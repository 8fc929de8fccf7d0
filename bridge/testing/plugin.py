"""The pytest plugin: diff routed functions against their ports as tests of a suite.

    @pytest.mark.bridge_diff("shopapp.pricing:vat_cents", where={"rate_permille": "0..1000"})
    def test_vat_port() -> None:
        ...  # runs after the diff agreed; may be empty

    def test_line_total_port(bridge_diff) -> None:
        result = bridge_diff("shopapp.pricing:line_total", examples=2000)

The marker takes bridge.testing.diff's keyword arguments (examples, seed, timeout_s,
where); the fixture is diff itself, failing the test when a difference is found. Either
way the failure shows each difference shrunk to a minimal request, with both answers.
Registered through the `pytest11` entry point, so installing bridge enables it. Loading
it imports bridge (~0.15 s, once per pytest run; a project with routed functions imports
it anyway) and not Hypothesis, which only a test that uses it imports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

__all__ = ["bridge_diff"]

MARKER = "bridge_diff"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*targets, examples=5000, seed=None, timeout_s=None, where=None): diff "
        "each routed MODULE:FUNCTION against its port (bridge.testing.diff) as this test",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    for marker in item.iter_markers(MARKER):
        if not marker.args:
            pytest.fail(f"@pytest.mark.{MARKER} needs a MODULE:FUNCTION", pytrace=False)
        for target in marker.args:
            _check(target, marker.kwargs)


@pytest.fixture
def bridge_diff() -> Callable[..., Any]:
    """bridge.testing.diff that fails the test on a difference; returns the DiffResult."""
    return _check


def _check(target: Any, options: Any = None, /, **kwargs: Any) -> Any:
    from . import diff

    result = diff(target, **{**(options or {}), **kwargs})
    try:
        result.assert_agrees()
    except AssertionError as exc:
        failure = str(exc)
    else:
        return result
    pytest.fail(failure, pytrace=False)  # outside the except: no chained copy shown
