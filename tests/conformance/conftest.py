"""The echo guests of protobuf's test schemas (tests/conformance/testee.py), built once per
language and session: protobuf's runner (test_official.py) and the codec differential
test (test_codec_differential.py) share them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import bridge
from bridge.schema.messages import MessageTypes
from bridge.schema.model import Schema

from ..conftest import has_go, has_rust
from .testee import PROTOS, build, methods_file, protobuf_runner, protobuf_source

#: bridge's own proto2 schema for the differential test (required, defaults, groups, ...).
PROTO_ROOT = Path(__file__).with_name("proto")
EXTRA = (PROTO_ROOT / "bridge_test" / "proto2.proto",)


def source_or_skip() -> Path:
    source = protobuf_source()
    if source is None:
        pytest.skip(
            "protobuf's source (3.21.12) is not there: scripts/install_test_clients.py "
            "unpacks it into build/tools/protobuf/src (BRIDGE_PROTOBUF_SOURCE names another)"
        )
    return source


def runner_or_skip() -> Path:
    runner = protobuf_runner()
    if runner is None:
        pytest.skip(
            "protobuf's conformance_test_runner is not built: scripts/install_test_clients.py "
            "builds it into build/tools/protobuf/bin"
        )
    return runner


@dataclass(frozen=True)
class OfficialGuest:
    language: str
    wasm: Path
    #: Message full name -> its echo method.
    methods: dict[str, str]


@pytest.fixture(scope="session", params=["go", "rust"])
def official_guest(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> OfficialGuest:
    """The echo guest of protobuf's test schemas (and EXTRA), one build per language."""
    language: str = request.param
    if not (has_go() if language == "go" else has_rust()):
        pytest.skip(f"needs the {language} toolchain")
    source = source_or_skip()
    out = tmp_path_factory.mktemp(f"official-{language}")
    wasm = build(language, source, out, EXTRA, PROTO_ROOT)
    methods = json.loads(methods_file(wasm).read_text("utf-8"))
    return OfficialGuest(language, wasm, methods)


@pytest.fixture(scope="session")
def official_module(official_guest: OfficialGuest) -> Iterator[bridge.GuestModule]:
    with bridge.load(official_guest.wasm) as guest:
        yield guest


@pytest.fixture(scope="session")
def official_types() -> MessageTypes:
    """Python's classes for protobuf's test schemas and EXTRA."""
    root = source_or_skip() / "src"
    schema = Schema.compile([root / p for p in PROTOS] + list(EXTRA), [root, PROTO_ROOT])
    return MessageTypes(schema)
