"""The runtime in a forked child: modules loaded before fork() keep their deadlines,
their pools and their output there, and the child loads and compiles modules of its own.

The scenario is a pre-forking server (gunicorn --preload, uwsgi, multiprocessing's fork
start method): the parent loads, the workers call. A real gunicorn serves a WSGI app whose
module was loaded in the master; plain os.fork() children check the rest.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import bridge
from bridge.config import RuntimeConfig

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")

FAULTY = "faulty.v1.Faulty"
DEADLINE_S = 0.3
# Generous: a loaded CI machine shares 2 cores among several test runs. The old runtime
# never fired at all in a child, so any bound tells the two apart.
DEADLINE_BOUND_S = DEADLINE_S + 5.0
CHILD_LIMIT_S = 90.0  # a child still running after this is hung: killed, and the test fails


def _in_child(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `work` in a forked child and return its result (a JSON object)."""
    (result,) = _in_children(1, lambda index: work())
    return result


def _time_loop(guest: bridge.GuestModule) -> dict[str, Any]:
    started = time.monotonic()
    try:
        guest.call(f"{FAULTY}/Loop", b"")
    except bridge.DeadlineExceeded:
        return {"error": "DeadlineExceeded", "elapsed": time.monotonic() - started}
    return {"error": None, "elapsed": time.monotonic() - started}


def test_a_module_loaded_before_fork_works_in_the_child(
    faulty_go_wasm: Path, faulty_rust_wasm: Path
) -> None:
    config = RuntimeConfig(cache_dir=None, call_timeout_s=DEADLINE_S, pool_size=2)
    with bridge.load(faulty_go_wasm, config) as guest:
        assert guest.call(f"{FAULTY}/Echo", b"parent") == b"parent"

        def child() -> dict[str, Any]:
            loop = _time_loop(guest)
            echo = guest.call(f"{FAULTY}/Echo", b"child", timeout_s=30).decode()
            # A module loaded in the child: compiled here, without the parent's threads.
            with bridge.load(faulty_rust_wasm, RuntimeConfig(cache_dir=None)) as own:
                own_echo = own.call(f"{FAULTY}/Echo", b"own", timeout_s=30).decode()
            return {"loop": loop, "echo": echo, "own": own_echo, "stats": guest.stats()}

        result = _in_child(child)
        assert result["loop"]["error"] == "DeadlineExceeded", result
        assert result["loop"]["elapsed"] < DEADLINE_BOUND_S, result
        assert result["echo"] == "child"
        assert result["own"] == "own"
        assert result["stats"]["failures"] == 0
        # The parent goes on as before, deadlines included.
        assert guest.call(f"{FAULTY}/Echo", b"after") == b"after"
        assert _time_loop(guest)["error"] == "DeadlineExceeded"


def test_the_parent_keeps_its_guests_output_after_a_child_exits(
    faulty_go_wasm: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The child never reads nor unregisters the pipes of the instances it inherited:
    the epoll set is shared, and the parent's pump reads them."""
    caplog.set_level(logging.INFO, logger="bridge.guest")
    config = RuntimeConfig(cache_dir=None, pool_size=1, call_timeout_s=30)
    with bridge.load(faulty_go_wasm, config) as guest:
        assert guest.call(f"{FAULTY}/Print", b"before") == b"before"

        def child() -> dict[str, Any]:
            # Its instances are the parent's: the child makes and uses its own.
            return {"echo": guest.call(f"{FAULTY}/Print", b"in child").decode()}

        assert _in_child(child) == {"echo": "in child"}
        assert guest.call(f"{FAULTY}/Print", b"after") == b"after"
        deadline = time.monotonic() + 30
        while not any("out: after" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.02)
        assert not any("in child" in r.getMessage() for r in caplog.records)


def test_forks_while_other_threads_make_instances(faulty_go_wasm: Path) -> None:
    """Threads that break instances (so the filler makes new ones all the time) and
    measure the pool meanwhile: each child still gets a working runtime."""
    config = RuntimeConfig(cache_dir=None, call_timeout_s=DEADLINE_S, pool_size=4)
    with bridge.load(faulty_go_wasm, config) as guest:
        stop = threading.Event()

        def churn() -> None:
            while not stop.is_set():
                try:
                    guest.call(f"{FAULTY}/Panic", b"churn")
                except bridge.GuestTrap:
                    pass
                except bridge.PoolExhausted:  # every instance broken at that moment
                    time.sleep(0.01)
                guest.stats()

        threads = [threading.Thread(target=churn) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(3):
                result = _in_child(
                    lambda: {
                        "loop": _time_loop(guest),
                        "echo": guest.call(f"{FAULTY}/Echo", b"x", timeout_s=30).decode(),
                    }
                )
                assert result["loop"]["error"] == "DeadlineExceeded", result
                assert result["echo"] == "x"
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)


# --- gunicorn --preload, 2 workers --------------------------------------------------

APP = """
import json
import os
import time
from pathlib import Path

import bridge
from bridge.config import RuntimeConfig

# Loaded once, in the master, before it forks the workers (--preload).
GUEST = bridge.load(
    os.environ["FAULTY_WASM"],
    RuntimeConfig(cache_dir=Path(os.environ["BRIDGE_CACHE_DIR"]), call_timeout_s={deadline}),
)


def app(environ, start_response):
    started = time.monotonic()
    try:
        GUEST.call("{faulty}/Loop", b"")
        error = None
    except bridge.DeadlineExceeded as exc:
        error = type(exc).__name__
    elapsed = time.monotonic() - started
    # The next call in the same worker, on a fresh instance.
    echo = GUEST.call("{faulty}/Echo", b"next", timeout_s=30).decode()
    body = json.dumps(
        {{"pid": os.getpid(), "error": error, "elapsed": elapsed, "echo": echo}}
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""


def _get(sock_path: Path, timeout_s: float) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(str(sock_path))
        sock.sendall(b"GET /loop HTTP/1.0\r\nHost: test\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")), response
    result: dict[str, Any] = json.loads(body)
    return result


@pytest.fixture
def gunicorn(tmp_path: Path, faulty_go_wasm: Path) -> Iterator[Path]:
    """A gunicorn master with 2 preforked workers serving APP on a unix socket."""
    pytest.importorskip("gunicorn")
    (tmp_path / "app.py").write_text(
        textwrap.dedent(APP.format(deadline=DEADLINE_S, faulty=FAULTY))
    )
    sock_path = tmp_path / "gunicorn.sock"
    log = (tmp_path / "gunicorn.log").open("wb")
    env = {**os.environ, "FAULTY_WASM": str(faulty_go_wasm)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    master = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--preload",
            "--workers=2",
            f"--bind=unix:{sock_path}",
            "--timeout=60",
            "--graceful-timeout=5",
            "app:app",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120  # loading compiles the guest
        while not sock_path.exists():
            if master.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{(tmp_path / 'gunicorn.log').read_text()}")
            time.sleep(0.05)
        yield sock_path
    finally:
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(timeout=30)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait(timeout=30)
        log.close()


def test_gunicorn_preload_workers_keep_deadlines(gunicorn: Path) -> None:
    # Sync workers take one request at a time: concurrent requests reach both workers.
    pids: set[int] = set()
    deadline = time.monotonic() + 120
    while len(pids) < 2:
        assert time.monotonic() < deadline, f"requests reached only workers {pids}"
        results: list[dict[str, Any]] = []

        def request(into: list[dict[str, Any]] = results) -> None:
            into.append(_get(gunicorn, timeout_s=60))

        clients = [threading.Thread(target=request) for _ in range(2)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=90)
        assert len(results) == 2, "a worker did not answer: its call never stopped"
        for result in results:
            assert result["error"] == "DeadlineExceeded", result
            assert result["elapsed"] < DEADLINE_BOUND_S, result
            assert result["echo"] == "next", result
            pids.add(result["pid"])


def _in_children(count: int, work: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    """Run `work(index)` in `count` children forked one after the other, alive at once (each
    waits for the last to be forked before it works); their results (JSON objects)."""
    go_read, go_write = os.pipe()
    children: list[tuple[int, int]] = []
    for index in range(count):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # a child: never returns into pytest
            os.close(read_fd)
            os.close(go_write)
            status = 0
            try:
                os.read(go_read, 1)  # every worker is forked: go
                outcome = work(index)
            except BaseException as exc:
                outcome, status = {"error": f"{type(exc).__name__}: {exc}"}, 1
            try:
                os.write(write_fd, json.dumps(outcome).encode())
            finally:
                os._exit(status)
        os.close(write_fd)
        children.append((pid, read_fd))
    os.close(go_read)
    os.write(go_write, b"g" * count)
    os.close(go_write)
    results = []
    deadline = time.monotonic() + CHILD_LIMIT_S
    for pid, read_fd in children:
        data = b""
        try:
            while True:
                ready, _, _ = select.select([read_fd], [], [], max(deadline - time.monotonic(), 0))
                if not ready:
                    for other, _ in children:
                        os.kill(other, signal.SIGKILL)
                    pytest.fail(f"a forked child hung for {CHILD_LIMIT_S} s")
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(read_fd)
            _, status = os.waitpid(pid, 0)
        result: dict[str, Any] = json.loads(data) if data else {}
        assert os.waitstatus_to_exitcode(status) == 0, result
        results.append(result)
    return results


def test_forked_workers_serve_without_compiling(
    faulty_go_wasm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pre-forking server: the module is loaded (compiled, through the compile cache) in
    the parent; two workers forked afterwards both serve it, and neither compiles it nor
    loads it from the cache again: they run the code the parent compiled. Counted by
    wrapping wasmtime's two ways of making a module, and by the cache folder, unchanged."""
    import wasmtime

    made: dict[str, int] = {"compiled": 0, "deserialized": 0}
    compile_module = wasmtime.Module.__init__
    deserialize = wasmtime.Module.deserialize.__func__  # type: ignore[attr-defined]

    def counted_init(self: Any, *args: Any, **kwargs: Any) -> None:
        made["compiled"] += 1
        compile_module(self, *args, **kwargs)

    def counted_deserialize(cls: Any, *args: Any, **kwargs: Any) -> Any:
        made["deserialized"] += 1
        return deserialize(cls, *args, **kwargs)

    monkeypatch.setattr(wasmtime.Module, "__init__", counted_init)
    monkeypatch.setattr(wasmtime.Module, "deserialize", classmethod(counted_deserialize))
    cache = tmp_path / "cache"
    config = RuntimeConfig(cache_dir=cache, pool_size=2, call_timeout_s=30)

    def entries() -> dict[str, float]:
        return {str(p.relative_to(cache)): p.stat().st_mtime for p in cache.rglob("*")}

    with bridge.load(faulty_go_wasm, config) as guest:
        # The parent's load (and, the first time in a process, the fast path's self-check).
        assert made["compiled"] + made["deserialized"] >= 1
        assert guest.call(f"{FAULTY}/Echo", b"parent") == b"parent"
        before = entries()
        made.update(compiled=0, deserialized=0)

        def worker(index: int) -> dict[str, Any]:
            answers = {guest.call(f"{FAULTY}/Echo", f"w{index} {i}".encode()) for i in range(200)}
            return {
                "served": answers == {f"w{index} {i}".encode() for i in range(200)},
                "pid": os.getpid(),
                "made": dict(made),
                "cache": entries(),
            }

        results = _in_children(2, worker)
        assert [r["served"] for r in results] == [True, True], results
        assert len({r["pid"] for r in results} | {os.getpid()}) == 3
        for result in results:
            assert result["made"] == {"compiled": 0, "deserialized": 0}, result
            assert result["cache"] == before
        assert entries() == before
        assert guest.call(f"{FAULTY}/Echo", b"after") == b"after"
