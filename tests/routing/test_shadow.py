"""Shadow mode: Python answers, the guest is compared, mismatches are recorded."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bridge.config import Mode, RouteConfig, ShadowConfig, SidecarConfig
from bridge.errors import DeadlineExceeded, GuestTrap, ShadowMismatch
from bridge.routing import Mismatch, Router
from tests.grpc_server import GuestServicer
from tests.routing.conftest import FAULTY, GATE_WAIT_S, PRICING, Gate, MakeRouter, scripted_server

NORMALIZE = f"{PRICING}/NormalizeSku"


def shadow(**settings: Any) -> RouteConfig:
    return RouteConfig(mode=Mode("shadow"), shadow=ShadowConfig(**settings))


def legacy_normalize(router: Router, **options: Any) -> Any:
    """The legacy code differs from the Go port on runs of spaces: "a  b" -> "A--B"."""

    @router.route(NORMALIZE, **options)
    def normalize_sku(sku: str) -> str:
        return sku.strip().upper().replace(" ", "-")

    return normalize_sku


@pytest.mark.parametrize("inline", [True, False])
def test_python_answers_and_the_mismatch_is_recorded(make_router: MakeRouter, inline: bool) -> None:
    router = make_router({NORMALIZE: shadow(inline=inline)})
    normalize_sku = legacy_normalize(router)
    assert normalize_sku("pear 2") == "PEAR-2"
    assert normalize_sku("pear  2") == "PEAR--2"  # Python's answer, though the guest differs
    assert router.drain(10)
    [mismatch] = router.mismatches()
    assert mismatch.kind == "value"
    assert mismatch.differences == ("sku: 'PEAR--2' != 'PEAR-2'",)
    request: Any = mismatch.request
    assert request is not None and request.sku == "pear  2"
    rows = {r.side: r for r in router.stats()}
    assert rows["python"].calls == rows["wasm"].calls == 2
    assert rows["wasm"].mismatches == 1
    # the record replays: the guest still disagrees
    replayed = router[NORMALIZE].replay(mismatch)
    assert replayed is not None and replayed.differences == mismatch.differences
    assert mismatch.to_json()["request"] == {"sku": "pear  2"}


def test_eight_threads(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(inline=True)})
    normalize_sku = legacy_normalize(router)
    wrong: list[str] = []

    def work(n: int) -> None:
        for i in range(250):
            sku = f"sku {n} {i}" if i % 10 else f"sku  {n}"
            if normalize_sku(sku) != sku.strip().upper().replace(" ", "-"):
                wrong.append(sku)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    rows = {r.side: r for r in router.stats()}
    assert rows["python"].calls == rows["wasm"].calls == 2000
    assert rows["wasm"].mismatches == 200 and rows["wasm"].errors == 0
    assert len(router.mismatches()) == 100  # the newest 100 are kept


def test_off_thread_candidates_are_bounded(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(queue_size=5)})
    normalize_sku = legacy_normalize(router)
    for i in range(2000):
        normalize_sku(f"sku {i}")
    assert router.drain(30)
    rows = {r.side: r for r in router.stats()}
    assert rows["python"].calls == 2000
    assert rows["wasm"].calls + rows["wasm"].dropped == 2000
    assert rows["wasm"].mismatches == 0


@pytest.mark.parametrize("inline", [True, False])
def test_a_guest_that_times_out(
    make_router: MakeRouter, faulty_pb2: ModuleType, inline: bool
) -> None:
    router = make_router({f"{FAULTY}/Loop": shadow(inline=inline, timeout_s=0.05)})

    @router.route(f"{FAULTY}/Loop")
    def loop(text: str) -> str:
        return text.upper()

    assert loop("still here") == "STILL HERE"
    assert router.drain(10)
    [mismatch] = router.mismatches()
    assert mismatch.kind == "candidate-error"
    # The guest was stopped at the candidate's own deadline, so that is all an inline
    # candidate can add to the call (an off-thread one adds nothing: see below).
    error = mismatch.candidate.error
    assert isinstance(error, DeadlineExceeded) and error.timeout_s == 0.05
    assert loop("again") == "AGAIN"  # the pool replaced the interrupted instance


@pytest.mark.timeout(120)
def test_an_off_thread_candidate_never_holds_the_caller(
    make_router: MakeRouter, pricing_pb2: ModuleType, tmp_path: Path
) -> None:
    gate = Gate(pricing_pb2)
    with scripted_server(gate, tmp_path) as (target, server):
        config = RouteConfig(
            mode=Mode("shadow"),
            candidate="sidecar",
            shadow=ShadowConfig(inline=False, timeout_s=GATE_WAIT_S),
        )
        sidecar = SidecarConfig(target=target, timeout_s=GATE_WAIT_S)
        router = make_router({NORMALIZE: config}, sidecar=sidecar)
        normalize_sku = legacy_normalize(router)
        try:
            assert normalize_sku("pear") == "PEAR"
            # Python answered, and the candidate had not ended (it cannot, until the
            # gate opens), so it runs on another thread...
            assert gate.entered.wait(GATE_WAIT_S)
            assert not gate.finished.is_set()
            assert [r.side for r in router.stats()] == ["python"]  # no candidate ended
        finally:
            gate.release.set()  # ...and ends once the gate opens
        assert router.drain(GATE_WAIT_S)
        rows = {r.side: r for r in router.stats()}
        assert rows["sidecar"].calls == 1 and server.calls[NORMALIZE] == 1
        assert router.mismatches() == []  # the sidecar answered "PEAR" too


def test_python_exceptions_propagate_unchanged(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(inline=True)})
    raised = KeyError("legacy")

    @router.route(NORMALIZE)
    def normalize_sku(sku: str) -> str:
        raise raised

    with pytest.raises(KeyError) as caught:
        normalize_sku("pear")
    assert caught.value is raised
    [mismatch] = router.mismatches()
    assert mismatch.kind == "control-error" and mismatch.control.error is raised


def test_candidate_exceptions_are_recorded_never_raised(
    make_router: MakeRouter, faulty_pb2: ModuleType
) -> None:
    router = make_router({f"{FAULTY}/Panic": shadow(inline=True)})

    @router.route(f"{FAULTY}/Panic")
    def panic(text: str) -> str:
        return "fine"

    assert panic("x") == "fine"
    [mismatch] = router.mismatches()
    assert mismatch.kind == "candidate-error" and isinstance(mismatch.candidate.error, GuestTrap)
    assert "GuestTrap" in str(mismatch)
    # Kept without its frames, which held the broken instance and the guest's memory.
    chain: BaseException | None = mismatch.candidate.error
    while chain is not None:
        assert chain.__traceback__ is None, type(chain)
        chain = chain.__cause__ or chain.__context__


def test_inline_order_is_randomised(
    make_router: MakeRouter, sidecar: tuple[str, GuestServicer]
) -> None:
    target, servicer = sidecar
    router = make_router(
        {
            NORMALIZE: RouteConfig(
                mode=Mode("shadow"), candidate="sidecar", shadow=ShadowConfig(inline=True)
            )
        },
        sidecar=SidecarConfig(target=target),
    )
    first: list[str] = []

    @router.route(NORMALIZE)
    def normalize_sku(sku: str) -> str:
        first.append("python" if servicer.calls == len(first) else "sidecar")
        return "-".join(sku.split()).upper()

    for _ in range(60):
        normalize_sku("pear")
    assert 10 < first.count("python") < 50, first
    assert router.mismatches() == []


def test_strict_mode_raises(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(strict=True)})
    normalize_sku = legacy_normalize(router)
    assert normalize_sku("pear 2") == "PEAR-2"
    with pytest.raises(ShadowMismatch) as caught:
        normalize_sku("pear  2")
    assert str(caught.value) == (
        f"{NORMALIZE}: python and the port (wasm) differ (python != port): "
        """sku: 'PEAR--2' != 'PEAR-2'; request {"sku": "pear  2"}"""
    )


def test_ignore_fields_compare_rules_and_redact(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(inline=True, ignore_fields=("sku",))})
    legacy_normalize(router)("a  b")
    assert router.mismatches() == []

    def known(mismatch: Mismatch) -> bool:
        request: Any = mismatch.request
        return request is not None and "  " in request.sku

    def redact(request: Any) -> Any:
        request.sku = "*" * len(request.sku)
        return request

    ruled = make_router({NORMALIZE: shadow(inline=True)})
    normalize_sku = legacy_normalize(ruled, ignore=[known], redact=redact)
    normalize_sku("a  b")  # a known mismatch: counted, not recorded
    normalize_sku(" c ")  # Python "C" vs guest "C": equal
    normalize_sku("d\te")  # Python "D\tE" vs guest "D-E": recorded, redacted
    rows = {r.side: r for r in ruled.stats()}
    assert (rows["wasm"].ignored, rows["wasm"].mismatches) == (1, 1)
    [mismatch] = ruled.mismatches()
    kept: Any = mismatch.request
    assert kept is not None and kept.sku == "***"

    lenient = make_router({NORMALIZE: shadow(inline=True)})
    legacy_normalize(
        lenient, compare=lambda a, b: a.sku.replace("-", "") == b.sku.replace("-", "")
    )("a  b")
    assert lenient.mismatches() == []


def test_a_comparator_that_raises_is_a_recorded_mismatch(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(inline=True)})

    def broken(a: Any, b: Any) -> bool:
        raise RuntimeError("comparator bug")

    assert legacy_normalize(router, compare=broken)("pear") == "PEAR"
    [mismatch] = router.mismatches()
    assert mismatch.kind == "compare-error" and "comparator bug" in mismatch.differences[0]


def test_sampling(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(inline=True, sample_percent=0)})
    legacy_normalize(router)("a  b")
    assert router.stats() == [] and router.mismatches() == []


def test_an_unmappable_python_answer(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(inline=True)})

    @router.route(NORMALIZE)
    def normalize_sku(sku: str) -> Any:
        return 42  # the legacy code was never quite sure

    assert normalize_sku("pear") == 42
    [mismatch] = router.mismatches()
    assert mismatch.kind == "unmappable" and "python answered 42" in mismatch.differences[0]
    assert dataclasses.asdict(router.stats()[0])["calls"] == 1


def test_a_replay_is_not_traffic(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(inline=True)})
    legacy_normalize(router)("a  b")
    [mismatch] = router.mismatches()
    before = router.stats()
    assert router[NORMALIZE].replay(mismatch) is not None
    assert router.stats() == before and router.mismatches() == [mismatch]


def test_a_mismatch_replays_in_any_mode(make_router: MakeRouter) -> None:
    router = make_router({NORMALIZE: shadow(inline=True)})
    legacy_normalize(router)("a  b")
    [mismatch] = router.mismatches()
    for mode in ("canary:10", "wasm", "python"):
        router.set_mode(NORMALIZE, mode)
        again = router[NORMALIZE].replay(mismatch)
        assert again is not None and again.differences == mismatch.differences, mode
