"""Run guest modules in this process: bridge modules, plain exports, WASI commands."""

from __future__ import annotations

from .command import CommandModule
from .interface import ModuleInterface, ModuleKind, describe
from .module import GuestModule, load
from .scalar import ScalarModule

__all__ = [
    "CommandModule",
    "GuestModule",
    "ModuleInterface",
    "ModuleKind",
    "ScalarModule",
    "describe",
    "load",
]
