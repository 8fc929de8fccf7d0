"""The public API is what __all__ says, and nothing private leaks into it."""

from __future__ import annotations
import __future__

import subprocess
import sys
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
    # The names whose modules load wasmtime or grpc are bound on first use.
    assert set(bridge.__all__) == public | set(bridge._LAZY) | {"__version__"}
    for name in bridge._LAZY:
        assert getattr(bridge, name) is not None


def test_import_bridge_loads_neither_wasmtime_nor_grpc() -> None:
    """A code base that only decorates its functions pays for neither runtime."""
    code = (
        "import sys, bridge\n"
        "print(sorted(m for m in ('wasmtime', 'grpc') if m in sys.modules))\n"
        "bridge.load\n"
        "print('wasmtime' in sys.modules)\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.split("\n")[:2] == ["[]", "True"]


def test_every_error_is_exported_and_rooted_at_bridge_error() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        assert name in bridge.__all__
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, bridge.BridgeError), name
