"""The public API is what __all__ says, and nothing private leaks into it."""

from __future__ import annotations
import __future__

import types

import bridge
from bridge import errors


def test_all_is_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(bridge).items()
        if not name.startswith("_")
        # submodules become attributes once anything imports them; they are not API
        and not isinstance(value, types.ModuleType)
        and value is not __future__.annotations
    }
    assert set(bridge.__all__) == public | {"__version__"}


def test_every_error_is_exported_and_rooted_at_bridge_error() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        assert name in bridge.__all__
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, bridge.BridgeError), name
