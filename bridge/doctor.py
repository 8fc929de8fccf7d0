"""`bridge doctor`: which engines and toolchains this machine has, and how to get the rest."""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._version import __version__
from .errors import BridgeError
from .guest import sdk, toolchain
from .guest.build import Language, detect_language

__all__ = ["Check", "project_checks", "run_checks"]


@dataclass(frozen=True, slots=True)
class Check:
    """One thing bridge can use: whether it was found, its version, what it is for."""

    name: str
    purpose: str
    found: bool
    version: str = ""
    location: str = ""
    fix: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "purpose": self.purpose,
            "found": self.found,
            "version": self.version,
            "location": self.location,
            "fix": self.fix,
        }


def _package(name: str, purpose: str, fix: str) -> Check:
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return Check(name, purpose, False, fix=fix)
    return Check(name, purpose, True, version=version)


def _fast_path() -> Check:
    from .runtime import _fastcall

    purpose = "in-process calls through wasmtime's C API (~0.6 us, not ~18 us)"
    reason = _fastcall.probe()
    if reason is None:
        return Check("fastcall", purpose, True, "cffi " + importlib.metadata.version("cffi"))
    return Check("fastcall", purpose, False, fix=f"calls take the slow path: {reason}")


def _native_call() -> Check:
    from .runtime import _fastcall

    purpose = "one C call copies in, calls and copies out; short calls keep the GIL"
    reason = _fastcall.native_available()
    if reason is None:
        return Check("native-call", purpose, True, "native")
    return Check(
        "native-call",
        purpose,
        False,
        fix=f"calls take the Python fast path ({reason}): reinstall bridge where a C "
        "compiler and Python's headers are found",
    )


def _ticker() -> Check:
    from .runtime.limits import ticker

    purpose = "stops guests at their deadlines without the GIL"
    if ticker.kind == "native":
        return Check("ticker", purpose, True, "native")
    return Check(
        "ticker",
        purpose,
        False,
        fix="a Python thread ticks, and deadlines wait for the GIL: reinstall bridge where "
        "a C compiler is found (cc, or CC=...)",
    )


def _shipped_sdk(language: Language) -> Check:
    name = f"sdk/{language.value}"
    purpose = f"the {language.value.capitalize()} guest SDK that bridge init vendors"
    try:
        folder = sdk.sdk_dir(language)
    except BridgeError as exc:
        return Check(name, purpose, False, fix=str(exc))
    return Check(name, purpose, True, __version__, str(folder))


def project_checks(projects: Sequence[Path]) -> list[Check]:
    """One check per guest project: is its vendored SDK the one this bridge ships?"""
    checks = []
    for project in projects:
        name = f"project {project}"
        purpose = "guest project: its SDK matches this bridge"
        try:
            detect_language(project)
            stamp = sdk.read_stamp(project)
            stale = sdk.stale_reason(project)
        except BridgeError as exc:
            checks.append(Check(name, purpose, False, fix=str(exc)))
            continue
        if stamp is None:
            where = "its own SDK (none vendored in bridge-sdk/)"
            checks.append(Check(name, purpose, True, location=where))
        elif stale is not None:
            checks.append(Check(name, purpose, False, stamp.bridge, fix=stale))
        else:
            folder = str(project / sdk.VENDOR_DIR)
            checks.append(Check(name, purpose, True, stamp.bridge, folder))
    return checks


def run_checks() -> list[Check]:
    """Every check, in a stable order: the engines, the SDKs, then the toolchains."""
    checks = [
        Check("python", "runs bridge", True, platform.python_version()),
        _package("wasmtime", "engine: runs modules in-process", "pip install wasmtime"),
        _fast_path(),
        _native_call(),
        _ticker(),
        _package(
            "wasmer-sdk",
            "engine (optional): WASI commands on Wasmer",
            "pip install 'bridge-wasm[wasmer]'",
        ),
        _package("extism", "bench (optional): the Extism comparison", "pip install extism"),
        *(_shipped_sdk(language) for language in Language),
    ]
    go = toolchain.find_go()
    checks.append(
        Check("go", "builds Go guests (wasip1)", True, go.version, str(go.path))
        if go
        else Check("go", "builds Go guests (wasip1)", False, fix=toolchain.go_install_hint())
    )
    tinygo = toolchain.find_tinygo()
    checks.append(
        Check(
            "tinygo", "builds smaller Go guests (optional)", True, tinygo.version, str(tinygo.path)
        )
        if tinygo
        else Check(
            "tinygo",
            "builds smaller Go guests (optional)",
            False,
            fix="not installable here; bridge builds Go guests with Go",
        )
    )
    for target in toolchain.RUST_TARGETS:
        rust = toolchain.find_rust(target)
        purpose = f"builds Rust guests ({target})"
        name = f"rustc/{target}"
        checks.append(
            Check(name, purpose, True, rust.version, str(rust.path))
            if rust
            else Check(name, purpose, False, fix=toolchain.rust_install_hint())
        )
    return checks
