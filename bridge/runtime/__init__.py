"""Run guest modules in this process with wasmtime."""

from __future__ import annotations

from .interface import ModuleInterface, ModuleKind, describe
from .module import GuestModule, load

__all__ = ["GuestModule", "ModuleInterface", "ModuleKind", "describe", "load"]
