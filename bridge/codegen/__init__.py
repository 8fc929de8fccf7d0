"""Code generation: one emitter per target language, each reading the schema model."""

from __future__ import annotations

from .base import GeneratedFile, write_files

__all__ = ["GeneratedFile", "write_files"]
