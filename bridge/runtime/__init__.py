"""Run guest modules in this process: bridge modules, plain exports, WASI commands."""

from __future__ import annotations

from .command import CommandModule
from .interface import ModuleInterface, ModuleKind, describe
from .module import GuestModule, load
from .scalar import ScalarModule
from .streams import Compressed, Reply, ResponseStream

__all__ = [
    "CommandModule",
    "Compressed",
    "GuestModule",
    "ModuleInterface",
    "ModuleKind",
    "Reply",
    "ResponseStream",
    "ScalarModule",
    "describe",
    "load",
]
