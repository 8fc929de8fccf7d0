"""A proto2 request that lacks a `required` field, in every mode, with real Go guests.

protobuf builds such a message but will not encode it. Bridge says so as InvalidArguments
(a CallError) that names the rpc and the field, before any backend is called: raised
where the bridge answers, answered by Python and counted where it falls back, recorded
as the candidate's error in shadow mode. The guests are bridge's generated Go code for
proto/examples/legacy (unary: Accounts/Echo and Settle answer their request as it came)
and for STREAM_PROTO below (a server-streaming rpc), built by `go_guest_of`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest

from bridge import load
from bridge.config import Mode, RouteConfig, ShadowConfig, SidecarConfig
from bridge.errors import AbiViolation, CallError, InvalidArguments, ShadowMismatch
from bridge.routing import Router
from tests.conftest import LEGACY_PROTO, ROOT, _pb2_module
from tests.grpc_server import GuestServicer, serve_modules
from tests.routing.conftest import GoGuestOf, MakeRouter, scripted_server

ACCOUNTS = "legacy.v1.Accounts"
ECHO = f"{ACCOUNTS}/Echo"
SETTLE = f"{ACCOUNTS}/Settle"
#: The one line a caller gets for an Account without its id.
NO_ID = (
    f"{ECHO}: the request is not a complete legacy.v1.Account: missing required fields: id; "
    "set them (proto2 `required`)"
)

LEGACY_MAIN = """package main

import "bridge.dev/tests/codegen-go-host/bridgegen"

func main() {}

type accounts struct{}

func (accounts) Echo(req *bridgegen.Account) (*bridgegen.Account, error) { return req, nil }

func (accounts) Settle(req *bridgegen.Ledger) (*bridgegen.Ledger, error) { return req, nil }

func init() { bridgegen.RegisterAccountsServer(accounts{}) }
"""

STREAM_PROTO = """syntax = "proto2";
package reqstream.v1;

message Range {
  required int32 start = 1;
  optional int32 stop = 2 [default = 3];
}

message Number { required int32 value = 1; }

service Counter { rpc Count(Range) returns (stream Number); }
"""
COUNT = "reqstream.v1.Counter/Count"

STREAM_MAIN = """package main

import "bridge.dev/tests/codegen-go-host/bridgegen"

func main() {}

type counter struct{}

func (counter) Count(req *bridgegen.Range, stream *bridgegen.Counter_CountServer) error {
	for v := req.GetStart(); v < req.GetStop(); v++ {
		value := v
		if err := stream.Send(&bridgegen.Number{Value: &value}); err != nil {
			return err
		}
	}
	return nil
}

func init() { bridgegen.RegisterCounterServer(counter{}) }
"""


@pytest.fixture(scope="module")
def legacy_wasm(go_guest_of: GoGuestOf) -> Path:
    return go_guest_of(LEGACY_PROTO, ROOT / "proto" / "examples", LEGACY_MAIN)


@pytest.fixture(scope="module")
def stream_proto(tmp_path_factory: pytest.TempPathFactory) -> Path:
    proto = tmp_path_factory.mktemp("reqstream") / "reqstream" / "v1" / "reqstream.proto"
    proto.parent.mkdir(parents=True)
    proto.write_text(STREAM_PROTO, encoding="utf-8")
    return proto


@pytest.fixture(scope="module")
def stream_wasm(go_guest_of: GoGuestOf, stream_proto: Path) -> Path:
    return go_guest_of(stream_proto, stream_proto.parents[2], STREAM_MAIN)


@pytest.fixture(scope="module")
def reqstream_pb2(
    tmp_path_factory: pytest.TempPathFactory, stream_proto: Path
) -> Iterator[ModuleType]:
    yield from _pb2_module(
        tmp_path_factory,
        stream_proto,
        "reqstream.v1.reqstream_pb2",
        include=stream_proto.parents[2],
    )


@pytest.fixture
def legacy_sidecar(legacy_wasm: Path, tmp_path: Path) -> Iterator[tuple[str, GuestServicer]]:
    """A real grpcio server of the legacy guest; its target, and its servicer (which
    counts the calls that reached it)."""
    with load(legacy_wasm) as module, serve_modules([module], tmp_path) as served:
        yield served


def legacy_router(make_router: MakeRouter, legacy_wasm: Path, mode: str, **settings: Any) -> Router:
    route = RouteConfig(mode=Mode.parse(mode), **settings)
    return make_router({ECHO: route, SETTLE: route}, services={ACCOUNTS: legacy_wasm})


def _account_fields(
    id: int | None = None,
    owner: str | None = None,
    status: Any = None,
    limit: Any = None,
    tag: Any = None,
    frozen: Any = None,
    balance: Any = None,
    scores: Any = None,
    history: Any = None,
    address: Any = None,
    note: Any = None,
    parent: Any = None,
    flags: Any = None,
    email: Any = None,
    phone: Any = None,
) -> Any:
    """The signature of a function routed to Accounts/Echo: legacy.v1.Account's fields."""


ACCOUNT_SIGNATURE = inspect.signature(_account_fields)


def routed_echo(router: Router, pb2: ModuleType) -> Callable[..., Any]:
    """Accounts/Echo; Python's answer has owner "python", to tell who answered."""

    def echo(**fields: Any) -> Any:
        id = fields.get("id")
        return pb2.Account(id=-1 if id is None else id, owner="python")

    echo.__signature__ = ACCOUNT_SIGNATURE  # type: ignore[attr-defined]
    return router.route(ECHO)(echo)


def one_line(exc: BaseException) -> list[str]:
    return str(exc).splitlines()


def row_of(router: Router, side: str) -> tuple[int, int, int]:
    [row] = [r for r in router.stats() if r.side == side]
    return row.calls, row.errors, row.fallbacks


# ---- wasm ----


def test_wasm_mode_raises_invalid_arguments_naming_the_field(
    make_router: MakeRouter, legacy_wasm: Path, legacy_pb2: ModuleType
) -> None:
    router = legacy_router(make_router, legacy_wasm, "wasm")
    echo = routed_echo(router, legacy_pb2)
    with pytest.raises(InvalidArguments) as raised:
        echo(owner="ann")
    assert isinstance(raised.value, CallError) and raised.value.method == ECHO
    assert one_line(raised.value) == [NO_ID]
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert row_of(router, "wasm") == (1, 1, 0)
    # The same route with the field set: the guest answers (not Python).
    answer = echo(id=7, owner="ann")
    assert (answer.id, answer.owner) == (7, "ann")
    assert row_of(router, "wasm") == (2, 1, 0)


def test_wasm_mode_with_fallback_answers_from_python_and_counts_it(
    make_router: MakeRouter,
    legacy_wasm: Path,
    legacy_pb2: ModuleType,
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = legacy_router(make_router, legacy_wasm, "wasm", fallback=True)
    echo = routed_echo(router, legacy_pb2)
    with caplog.at_level(logging.WARNING, logger="bridge.route"):
        answer = echo(owner="ann")
    assert (answer.id, answer.owner) == (-1, "python")
    assert row_of(router, "wasm") == (1, 1, 1)
    [warning] = [r.getMessage() for r in caplog.records if "python answered" in r.getMessage()]
    assert warning.endswith(NO_ID)


def test_a_nested_message_without_its_required_field(
    make_router: MakeRouter, legacy_wasm: Path, legacy_pb2: ModuleType
) -> None:
    router = legacy_router(make_router, legacy_wasm, "wasm")
    echo = routed_echo(router, legacy_pb2)

    @router.route(SETTLE)
    def settle(accounts: Any = (), default_status: Any = None) -> Any:
        raise AssertionError("the guest answers")

    incomplete = [legacy_pb2.Account(id=1), legacy_pb2.Account(owner="bob")]
    with pytest.raises(InvalidArguments) as raised:
        settle(incomplete)
    [line] = one_line(raised.value)
    assert line.startswith(f"{SETTLE}: the request is not a complete legacy.v1.Ledger: ")
    assert line.endswith("missing required fields: accounts[1].id; set them (proto2 `required`)")
    # A group's required field (Account.Address.city), given as a dict.
    with pytest.raises(InvalidArguments, match=f"^{ECHO}: .*missing required fields"):
        echo(id=1, address={"street": "Main"})
    assert echo(id=1, address={"city": "Oslo"}).address.city == "Oslo"
    assert len(settle([legacy_pb2.Account(id=1), legacy_pb2.Account(id=2)]).accounts) == 2


def test_an_async_function(
    make_router: MakeRouter, legacy_wasm: Path, legacy_pb2: ModuleType
) -> None:
    router = legacy_router(make_router, legacy_wasm, "wasm")

    async def python_echo(**fields: Any) -> Any:
        return legacy_pb2.Account(id=-1, owner="python")

    python_echo.__signature__ = ACCOUNT_SIGNATURE  # type: ignore[attr-defined]
    echo = router.route(ECHO)(python_echo)

    with pytest.raises(InvalidArguments) as raised:
        asyncio.run(echo(owner="ann"))
    assert one_line(raised.value) == [NO_ID]
    router.set_mode(ECHO, "wasm", fallback=True)
    assert asyncio.run(echo(owner="ann")).owner == "python"
    assert row_of(router, "wasm") == (2, 2, 1)


# ---- sidecar: the request never reaches the server ----


def test_sidecar_mode_never_sends_the_request(
    make_router: MakeRouter, legacy_sidecar: tuple[str, GuestServicer], legacy_pb2: ModuleType
) -> None:
    target, servicer = legacy_sidecar
    router = make_router(
        {ECHO: RouteConfig(mode=Mode("sidecar"))}, sidecar=SidecarConfig(target=target)
    )
    echo = routed_echo(router, legacy_pb2)
    with pytest.raises(InvalidArguments) as raised:
        echo(owner="ann")
    assert one_line(raised.value) == [NO_ID]
    assert servicer.calls == 0
    router.set_mode(ECHO, "sidecar", fallback=True)
    assert echo(owner="ann").owner == "python"
    assert servicer.calls == 0
    assert echo(id=3, owner="ann").owner == "ann"
    assert servicer.calls == 1
    assert row_of(router, "sidecar") == (3, 2, 1)


# ---- canary ----


def test_canary_mode_with_and_without_fallback(
    make_router: MakeRouter, legacy_wasm: Path, legacy_pb2: ModuleType
) -> None:
    router = legacy_router(make_router, legacy_wasm, "canary:100")
    echo = routed_echo(router, legacy_pb2)
    with pytest.raises(InvalidArguments) as raised:
        echo(owner="ann")
    assert one_line(raised.value) == [NO_ID]
    assert row_of(router, "wasm") == (1, 1, 0)
    router.set_mode(ECHO, "canary:100", fallback=True)
    assert echo(owner="ann").owner == "python"
    assert row_of(router, "wasm") == (2, 2, 1)
    assert row_of(router, "python") == (1, 0, 0)


# ---- shadow: Python answers; the candidate's error is recorded ----


def test_shadow_mode_records_the_candidates_error(
    make_router: MakeRouter, legacy_wasm: Path, legacy_pb2: ModuleType
) -> None:
    router = make_router(
        {ECHO: RouteConfig(mode=Mode("shadow"), shadow=ShadowConfig())},
        services={ACCOUNTS: legacy_wasm},
    )
    echo = routed_echo(router, legacy_pb2)
    assert echo(owner="ann").owner == "python"
    assert router.drain(30)
    [mismatch] = router.mismatches(ECHO)
    assert mismatch.kind == "candidate-error"
    assert isinstance(mismatch.candidate.error, InvalidArguments)
    assert one_line(mismatch.candidate.error) == [NO_ID]
    request: Any = mismatch.request  # kept for replay: the arguments as given
    assert request.owner == "ann" and not request.HasField("id")
    calls, errors, _ = row_of(router, "wasm")
    assert (calls, errors) == (1, 1)
    assert [r.mismatches for r in router.stats() if r.side == "wasm"] == [1]


def test_strict_shadow_raises_the_mismatch_naming_the_field(
    make_router: MakeRouter, legacy_wasm: Path, legacy_pb2: ModuleType
) -> None:
    router = make_router(
        {ECHO: RouteConfig(mode=Mode("shadow"), shadow=ShadowConfig(strict=True))},
        services={ACCOUNTS: legacy_wasm},
    )
    echo = routed_echo(router, legacy_pb2)
    with pytest.raises(ShadowMismatch) as raised:
        echo(owner="ann")
    [line] = one_line(raised.value)
    assert f"port InvalidArguments: {NO_ID}, python " in line


# ---- streams ----


def routed_count(router: Router) -> Callable[..., Iterator[int]]:
    @router.route(COUNT)
    def count(start: int | None = None, stop: int | None = None) -> Iterator[int]:
        yield from (-1, -2)  # Python's answer, whatever it is asked

    return count


@pytest.fixture
def count_router(
    make_router: MakeRouter, stream_wasm: Path, reqstream_pb2: ModuleType
) -> Callable[..., Router]:
    def make(mode: str, **settings: Any) -> Router:
        return make_router(
            {COUNT: RouteConfig(mode=Mode.parse(mode), **settings)},
            services={"reqstream.v1.Counter": stream_wasm},
        )

    return make


def test_a_stream_raises_when_called(count_router: Callable[..., Router]) -> None:
    router = count_router("wasm")
    count = routed_count(router)
    no_start = (
        f"{COUNT}: the request is not a complete reqstream.v1.Range: missing required "
        "fields: start; set them (proto2 `required`)"
    )
    with pytest.raises(InvalidArguments) as raised:
        count(stop=5)  # raised by the call, not by the first next()
    assert one_line(raised.value) == [no_start]
    assert row_of(router, "wasm") == (1, 1, 0)
    assert list(count(start=1, stop=4)) == [1, 2, 3]


def test_a_stream_with_fallback_is_pythons(count_router: Callable[..., Router]) -> None:
    router = count_router("wasm", fallback=True)
    assert list(routed_count(router)(stop=5)) == [-1, -2]
    assert row_of(router, "wasm") == (1, 1, 1)


def test_a_shadowed_stream_records_the_candidates_error(
    count_router: Callable[..., Router],
) -> None:
    router = count_router("shadow", shadow=ShadowConfig(inline=True))
    assert list(routed_count(router)(stop=5)) == [-1, -2]
    [mismatch] = router.mismatches(COUNT)
    assert mismatch.kind == "candidate-error"
    assert isinstance(mismatch.candidate.error, InvalidArguments)
    assert "missing required fields: start" in str(mismatch.candidate.error)


# ---- responses ----


def test_a_response_without_its_required_field_is_read_as_protobuf_reads_it(
    make_router: MakeRouter, legacy_pb2: ModuleType, tmp_path: Path
) -> None:
    """upb's Python parses a message lacking a required field without complaint (it does
    not check them on parse), so bridge returns it as the legacy code would get it from
    any protobuf client; bytes that are not an Account at all are an AbiViolation."""
    answers: dict[str, bytes] = {
        "Echo": legacy_pb2.Account(owner="no id").SerializePartialToString(),
        "Settle": b"\x0a\x05garbage",
    }

    def handler(method: str, request: bytes, context: grpc.ServicerContext, nth: int) -> bytes:
        return answers[method.rsplit("/", 1)[1]]

    with scripted_server(handler, tmp_path) as (target, scripted):
        router = make_router(
            {ECHO: RouteConfig(mode=Mode("sidecar")), SETTLE: RouteConfig(mode=Mode("sidecar"))},
            sidecar=SidecarConfig(target=target),
        )
        echo = routed_echo(router, legacy_pb2)

        @router.route(SETTLE)
        def settle(accounts: Any = (), default_status: Any = None) -> Any:
            raise AssertionError("the server answers")

        answer = echo(id=1)
        assert (answer.owner, answer.HasField("id")) == ("no id", False)
        with pytest.raises(AbiViolation, match=f"^{SETTLE}: the answer is not a valid "):
            settle([legacy_pb2.Account(id=1)])
        assert scripted.calls == {ECHO: 1, SETTLE: 1}
