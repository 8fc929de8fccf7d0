"""examples/go-routeguide: gRPC's route guide, one method of each kind, in Go.

Called in-process (module.invoke for one answer, module.stream for many) and through
`bridge serve` by grpcio's own generated stubs, so that the same guest answers the same
way on both paths.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest

import bridge
from bridge.codegen import go
from bridge.guest.build import SCHEMA_FILE
from bridge.schema import Schema
from tests.conftest import EXAMPLES, ROOT, _build_or_skip, _pb2_module
from tests.sidecar.conftest import serving

INCLUDE = ROOT / "proto" / "examples"
PROTO = INCLUDE / "grpc" / "route_guide" / "route_guide.proto"
SERVICE = "routeguide.RouteGuide"
TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def routeguide_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("routeguide") / "routeguide.wasm"
    return _build_or_skip(EXAMPLES / "go-routeguide", out)


@pytest.fixture(scope="module")
def rg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, ModuleType]]:
    """route_guide_pb2 and route_guide_pb2_grpc, as grpcio-tools writes them."""
    # Its own folder as the root: a module under grpc/ would shadow grpcio.
    compiled = _pb2_module(
        tmp_path_factory, PROTO, "route_guide_pb2", include=PROTO.parent, grpc=True
    )
    try:
        pb2 = next(compiled)
        yield pb2, importlib.import_module("route_guide_pb2_grpc")
    finally:
        compiled.close()
        for name in ("route_guide_pb2", "route_guide_pb2_grpc"):
            sys.modules.pop(name, None)


def _rectangle(pb2: ModuleType, hi: int) -> Any:
    return pb2.Rectangle(
        lo=pb2.Point(latitude=0, longitude=0), hi=pb2.Point(latitude=hi, longitude=hi)
    )


def _route(pb2: ModuleType) -> list[Any]:
    # Three features on the grid and one point off it.
    return [pb2.Point(latitude=lat, longitude=0) for lat in (0, 1000, 2000, 2500)]


def _notes(pb2: ModuleType) -> list[Any]:
    here, there = pb2.Point(latitude=1), pb2.Point(latitude=2)
    return [
        pb2.RouteNote(location=here, message="a"),
        pb2.RouteNote(location=there, message="b"),
        pb2.RouteNote(location=here, message="c"),
        pb2.RouteNote(location=here, message="d"),
    ]


def test_the_glue_is_what_bridge_gen_writes() -> None:
    schema = Schema.compile([PROTO], [INCLUDE])
    out = EXAMPLES / "go-routeguide" / "bridgegen"
    for file in go.emit(schema):
        assert (out / file.path).read_text() == file.text, (
            f"{out / file.path} is stale: run bridge gen -I proto/examples "
            f"{PROTO.relative_to(ROOT)} --go-out {out.relative_to(ROOT)}"
        )
    assert (out / SCHEMA_FILE).read_bytes() == schema.descriptor_set


def test_each_kind_in_process(routeguide_wasm: Path, rg: tuple[ModuleType, ModuleType]) -> None:
    pb2, _ = rg
    with bridge.load(routeguide_wasm) as guide:
        assert [guide.kind(f"{SERVICE}/{m}").value for m in ("GetFeature", "ListFeatures")] == [
            "unary",
            "server_streaming",
        ]
        feature = pb2.Feature.FromString(
            guide.call(
                f"{SERVICE}/GetFeature",
                pb2.Point(latitude=3000, longitude=4000).SerializeToString(),
            )
        )
        assert feature.name == "feature 3/4"

        stream = guide.stream(f"{SERVICE}/ListFeatures", _rectangle(pb2, 2000).SerializeToString())
        names = [pb2.Feature.FromString(message).name for message in stream]
        assert names == [f"feature {i}/{j}" for i in range(3) for j in range(3)]

        reply = guide.invoke(f"{SERVICE}/RecordRoute", (p.SerializeToString() for p in _route(pb2)))
        summary = pb2.RouteSummary.FromString(reply.response)
        assert (summary.point_count, summary.feature_count, summary.distance) == (4, 3, 2500)

        chat = guide.stream(f"{SERVICE}/RouteChat", [n.SerializeToString() for n in _notes(pb2)])
        assert [pb2.RouteNote.FromString(m).message for m in chat] == ["a", "a", "c"]


def test_a_stream_closed_early_frees_the_guest(
    routeguide_wasm: Path, rg: tuple[ModuleType, ModuleType]
) -> None:
    """The caller stops after 3 of 10,000 features: the guest is told, and its instance
    serves the next call."""
    pb2, _ = rg
    config = bridge.RuntimeConfig(pool_size=1)
    with bridge.load(routeguide_wasm, config) as guide:
        request = _rectangle(pb2, 99_000).SerializeToString()
        with guide.stream(f"{SERVICE}/ListFeatures", request) as stream:
            first = [pb2.Feature.FromString(next(stream)).name for _ in range(3)]
        assert first == ["feature 0/0", "feature 0/1", "feature 0/2"]
        again = guide.stream(f"{SERVICE}/ListFeatures", _rectangle(pb2, 0).SerializeToString())
        assert [pb2.Feature.FromString(m).name for m in again] == ["feature 0/0"]


def test_each_kind_through_bridge_serve(
    routeguide_wasm: Path, rg: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    """grpcio's generated stub, over a unix socket, gets what the in-process calls got."""
    pb2, pb2_grpc = rg
    with (
        serving(
            str(routeguide_wasm), "--socket", str(tmp_path / "rg.sock"), folder=tmp_path
        ) as served,
        grpc.insecure_channel(served.target) as channel,
    ):
        stub = pb2_grpc.RouteGuideStub(channel)
        feature = stub.GetFeature(pb2.Point(latitude=3000, longitude=4000), timeout=TIMEOUT_S)
        assert feature.name == "feature 3/4"
        names = [f.name for f in stub.ListFeatures(_rectangle(pb2, 2000), timeout=TIMEOUT_S)]
        assert names == [f"feature {i}/{j}" for i in range(3) for j in range(3)]
        summary = stub.RecordRoute(iter(_route(pb2)), timeout=TIMEOUT_S)
        assert (summary.point_count, summary.feature_count, summary.distance) == (4, 3, 2500)
        chat = stub.RouteChat(iter(_notes(pb2)), timeout=TIMEOUT_S)
        assert [note.message for note in chat] == ["a", "a", "c"]

        # A client that cancels a long stream: the sidecar goes on serving.
        features = stub.ListFeatures(_rectangle(pb2, 99_000), timeout=TIMEOUT_S)
        assert next(features).name == "feature 0/0"
        features.cancel()
        with pytest.raises(grpc.RpcError) as info:
            list(features)
        assert info.value.code() is grpc.StatusCode.CANCELLED
        assert stub.GetFeature(pb2.Point(), timeout=TIMEOUT_S).name == "feature 0/0"


def test_messages_past_grpcs_default_limit_pass_the_sidecar(
    routeguide_wasm: Path, rg: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    """The sidecar and bridge's client take messages up to the runtime's limit (64 MiB),
    not grpcio's default 4 MiB: a 5 MiB note goes to the guest and comes back."""
    pb2, _ = rg
    big = "x" * (5 << 20)
    notes = [pb2.RouteNote(location=pb2.Point(latitude=7), message=m) for m in (big, "again")]
    with (
        serving(
            str(routeguide_wasm), "--socket", str(tmp_path / "rg.sock"), folder=tmp_path
        ) as served,
        bridge.connect(served.target, timeout_s=TIMEOUT_S) as sidecar,
    ):
        stream = sidecar.stream(f"{SERVICE}/RouteChat", [n.SerializeToString() for n in notes])
        [echoed] = [pb2.RouteNote.FromString(m) for m in stream]
        assert echoed.message == big
