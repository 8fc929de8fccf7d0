"""`bridge serve` called by gRPC clients the project did not write.

A Node.js client on @grpc/grpc-js and @grpc/proto-loader (tests/sidecar/node, installed
from the npm registry by scripts/install_test_clients.py), and grpcurl, which knows the
services only through server reflection. Each runs against a real `bridge serve` process,
on a unix socket and on loopback TCP. What cannot be installed here skips with the reason,
except under CI (CI=true), where the test command installs the clients: there it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.conftest import EXAMPLES, ROOT
from tests.sidecar.conftest import Served, serving

NODE_CLIENT = Path(__file__).resolve().parent / "node"
SHOP_PROTO_DIR = EXAMPLES / "legacy-shop" / "proto"
SHOP_PROTO = "shop/v1/legacy_shop.proto"
# Where scripts/install_test_clients.py puts grpcurl, and why it could not.
GRPCURL = ROOT / "build" / "tools" / "bin" / "grpcurl"
GRPCURL_FAILED = ROOT / "build" / "tools" / "grpcurl.failed"
INSTALL = "scripts/install_test_clients.py (./scripts/test runs it)"
CLIENT_TIMEOUT_S = 30.0

# 250 cents x 12, 5% bulk discount: 2850 cents.
LINE_TOTAL_REQUEST = {"unit_price_cents": 250, "quantity": 12}
LINE_TOTAL_CENTS = 2850
INVALID_ARGUMENT = 3


@pytest.fixture(scope="module", params=["unix", "tcp"])
def sidecar(
    request: pytest.FixtureRequest,
    shop_pricing_wasm: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """`bridge serve` of the shop's pricing module on a unix socket, then on loopback TCP
    (a free port); stopped with SIGTERM at the end, which must exit 0."""
    folder = tmp_path_factory.mktemp(f"clients-{request.param}")
    where = (
        ["--socket", str(folder / "sidecar.sock")]
        if request.param == "unix"
        else ["--listen", "127.0.0.1:0"]
    )
    with serving(str(shop_pricing_wasm), *where, "--no-watch", folder=folder) as served:
        assert served.handshake.network == request.param
        yield served
    if request.param == "unix":
        assert not (folder / "sidecar.sock").exists()


Done = subprocess.CompletedProcess[str]


def run(argv: list[str]) -> Done:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False, cwd=ROOT
    )


# --- Node.js: @grpc/grpc-js with @grpc/proto-loader -------------------------------------


def missing(reason: str) -> NoReturn:
    """Skip for want of a client, except under CI (CI=true), where the test command
    installs the clients: there a missing one fails, rather than pass unseen."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{reason} (CI is set: the clients must be there)", pytrace=False)
    pytest.skip(reason)


def find_node(client: Path = NODE_CLIENT) -> str:
    """The node executable, once `client`'s packages are installed."""
    found = shutil.which("node")
    if found is None:
        missing("node is not installed: apt-get install -y nodejs npm, then run " + INSTALL)
    if not (client / "node_modules" / "@grpc" / "grpc-js").is_dir():
        missing(f"@grpc/grpc-js is not installed in {client}: run {INSTALL}")
    return found


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, once tests/sidecar/node's packages are installed."""
    return find_node()


def node_call(node: str, target: str, *args: str) -> tuple[int, dict[str, Any]]:
    """Run client.js; its exit status and the JSON line it printed."""
    done = run([node, str(NODE_CLIENT / "client.js"), "--target", target, *args])
    assert done.returncode in (0, 2), f"client.js failed ({done.returncode}): {done.stderr}"
    answer: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, answer


def node_rpc(
    node: str, target: str, method: str, request: dict[str, int], deadline_ms: int = 10_000
) -> tuple[int, Any]:
    return node_call(
        node,
        target,
        *("--proto", SHOP_PROTO, "--include", str(SHOP_PROTO_DIR)),
        *("--method", method, "--request", json.dumps(request)),
        *("--deadline-ms", str(deadline_ms)),  # 0: no deadline
    )


def test_node_client_calls_a_guest_method(node: str, sidecar: Served) -> None:
    status, answer = node_rpc(node, sidecar.target, "shop.v1.Pricing/LineTotal", LINE_TOTAL_REQUEST)
    assert status == 0, answer
    assert answer == {"total_cents": str(LINE_TOTAL_CENTS)}  # int64 as a string, as in JSON
    vat = {"net_cents": 1000, "rate_permille": 190}
    assert node_rpc(node, sidecar.target, "shop.v1.Pricing/Vat", vat) == (0, {"vat_cents": "190"})


def test_node_client_gets_the_guests_error_status(node: str, sidecar: Served) -> None:
    request = {**LINE_TOTAL_REQUEST, "quantity": 0}
    status, answer = node_rpc(node, sidecar.target, "shop.v1.Pricing/LineTotal", request)
    assert status == 2
    assert answer["code"] == INVALID_ARGUMENT
    assert answer["details"] == "quantity must be between 1 and 100000, not 0"
    assert answer["metadata"]["bridge-error"] == "GuestError"


def test_node_client_checks_health(node: str, sidecar: Served) -> None:
    for service in ("", "shop.v1.Pricing"):
        assert node_call(node, sidecar.target, "--health", service) == (0, {"status": "SERVING"})
    status, answer = node_call(node, sidecar.target, "--health", "shop.v1.Nope")
    assert (status, answer["code"]) == (2, 5)  # NOT_FOUND: a service it does not serve


# --- grpcurl: reflection only, no .proto ------------------------------------------------


def find_grpcurl(bundled: Path = GRPCURL, failed: Path = GRPCURL_FAILED) -> str:
    """grpcurl at `bundled` (where scripts/install_test_clients.py puts it), else from
    PATH; `failed` says why the install could not get it."""
    if bundled.is_file():
        return str(bundled)
    found = shutil.which("grpcurl")
    if found is not None:
        return found
    if failed.is_file():
        why = failed.read_text().strip()
        missing(f"grpcurl could not be installed: {why} (delete {failed} to retry)")
    missing(f"grpcurl is not installed: run {INSTALL}")


@pytest.fixture(scope="session")
def grpcurl() -> str:
    """grpcurl from build/tools/bin (scripts/install_test_clients.py), else from PATH."""
    return find_grpcurl()


def test_a_missing_client_skips_but_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nowhere = tmp_path / "absent"
    node_path = str(Path(shutil.which("node") or "/nonexistent/node").parent)
    for ci, outcome in (("true", pytest.fail.Exception), ("", pytest.skip.Exception)):
        monkeypatch.setenv("CI", ci)
        monkeypatch.setenv("PATH", str(tmp_path))  # neither node nor grpcurl on it
        with pytest.raises(outcome, match="node is not installed"):
            find_node()
        with pytest.raises(outcome, match="grpcurl is not installed"):
            find_grpcurl(nowhere, nowhere)
        monkeypatch.setenv("PATH", node_path)  # node, but not the client's packages
        if shutil.which("node") is not None:
            with pytest.raises(outcome, match="@grpc/grpc-js is not installed"):
                find_node(nowhere)


def grpcurl_run(
    grpcurl: str, sidecar: Served, *args: str, data: str | None = None, deadline: bool = True
) -> Done:
    """`grpcurl -plaintext [-max-time 10] [-d DATA] ADDRESS ARGS` against the sidecar.

    For the unix socket, `-unix` with the socket as a `unix://` URI: grpcurl v1.9.2 and
    v1.9.3 dial a bare path over TCP ("missing port in address", fullstorydev/grpcurl#546,
    fixed by #498 after v1.9.3), while a URI works with and without the fix.
    """
    flags = ["-plaintext", *(["-max-time", "10"] if deadline else [])]
    flags += ["-d", data] if data is not None else []
    if sidecar.handshake.network == "unix":
        flags += ["-unix", f"unix://{sidecar.handshake.address}"]
    else:
        flags += [sidecar.handshake.address]
    return run([grpcurl, *flags, *args])


def test_grpcurl_lists_and_describes_by_reflection(grpcurl: str, sidecar: Served) -> None:
    listed = grpcurl_run(grpcurl, sidecar, "list")
    assert listed.returncode == 0, listed.stderr
    assert {"shop.v1.Pricing", "grpc.health.v1.Health"} <= set(listed.stdout.split())
    described = grpcurl_run(grpcurl, sidecar, "describe", "shop.v1.Pricing")
    assert described.returncode == 0, described.stderr
    assert "shop.v1.Pricing is a service" in described.stdout
    assert "rpc LineTotal ( .shop.v1.LineTotalRequest ) returns" in described.stdout
    message = grpcurl_run(grpcurl, sidecar, "describe", "shop.v1.LineTotalRequest")
    assert "int64 unit_price_cents = 1;" in message.stdout, message.stderr


def test_grpcurl_calls_a_guest_method_by_reflection(grpcurl: str, sidecar: Served) -> None:
    method = "shop.v1.Pricing/LineTotal"
    called = grpcurl_run(grpcurl, sidecar, method, data=json.dumps(LINE_TOTAL_REQUEST))
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {"totalCents": str(LINE_TOTAL_CENTS)}
    bad = json.dumps({**LINE_TOTAL_REQUEST, "quantity": 0})
    refused = grpcurl_run(grpcurl, sidecar, method, data=bad)
    assert refused.returncode == 64 + INVALID_ARGUMENT, refused.stderr  # 64 + the status
    assert "Code: InvalidArgument" in refused.stderr
    assert "quantity must be between 1 and 100000, not 0" in refused.stderr


def test_node_client_without_a_deadline(node: str, sidecar: Served) -> None:
    """A call with no deadline is answered: grpcio reports "no deadline" as ~292 years
    remaining, more than the guest's epoch deadline can hold."""
    method = "shop.v1.Pricing/LineTotal"
    answer = node_rpc(node, sidecar.target, method, LINE_TOTAL_REQUEST, deadline_ms=0)
    assert answer == (0, {"total_cents": str(LINE_TOTAL_CENTS)})


def test_grpcurl_without_a_deadline(grpcurl: str, sidecar: Served) -> None:
    """grpcurl sets no deadline unless given -max-time."""
    data = json.dumps(LINE_TOTAL_REQUEST)
    called = grpcurl_run(grpcurl, sidecar, "shop.v1.Pricing/LineTotal", data=data, deadline=False)
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {"totalCents": str(LINE_TOTAL_CENTS)}


def test_grpcurl_checks_health_by_reflection(grpcurl: str, sidecar: Served) -> None:
    described = grpcurl_run(grpcurl, sidecar, "describe", "grpc.health.v1.Health")
    assert described.returncode == 0, described.stderr
    health = grpcurl_run(grpcurl, sidecar, "grpc.health.v1.Health/Check")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout) == {"status": "SERVING"}
