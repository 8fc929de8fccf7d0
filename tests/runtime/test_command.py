"""CommandModule: WASI commands on the real Go guest (examples/go-wordcount) and on small
WAT commands that misbehave on purpose, on each engine: wasmtime, and Wasmer when the
optional wasmer-sdk is installed.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib.util
import json
import threading
from pathlib import Path

import pytest

from bridge.config import RuntimeConfig
from bridge.errors import (
    ConfigError,
    DeadlineExceeded,
    GuestError,
    GuestTrap,
    InvalidArguments,
    LoadError,
    MemoryLimitExceeded,
    ModuleClosed,
    ResourceExhausted,
    StatusCode,
)
from bridge.runtime import command
from bridge.runtime.command import REQUEST_ENV, CommandModule
from tests.wat import wat_module, write_wat

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

HAS_WASMER = importlib.util.find_spec("wasmer_sdk") is not None
NO_WASMER = "engine 'wasmer' needs the optional wasmer-sdk: pip install 'bridge-wasm[wasmer]'"
ENGINES = [
    "wasmtime",
    pytest.param("wasmer", marks=pytest.mark.skipif(not HAS_WASMER, reason=NO_WASMER)),
]

_WASI = '(import "wasi_snapshot_preview1" "{name}" (func ${name} {sig}))'
FD_READ = _WASI.format(name="fd_read", sig="(param i32 i32 i32 i32) (result i32)")
FD_WRITE = _WASI.format(name="fd_write", sig="(param i32 i32 i32 i32) (result i32)")
PROC_EXIT = _WASI.format(name="proc_exit", sig="(param i32)")
SCHED_YIELD = _WASI.format(name="sched_yield", sig="(result i32)")


def _write(fd: int, ptr: int, length: int) -> str:
    """WAT that writes memory [ptr, ptr + length) to `fd` (iovec at 0, count at 8)."""
    return f"""
    (i32.store (i32.const 0) (i32.const {ptr}))
    (i32.store (i32.const 4) (i32.const {length}))
    (drop (call $fd_write (i32.const {fd}) (i32.const 0) (i32.const 1) (i32.const 8)))"""


def _wat_text(text: str) -> str:
    return "".join(f"\\{b:02x}" for b in text.encode())


def _say(fd: int, text: str) -> tuple[str, str]:
    """A data segment holding `text` at 64, and WAT that writes it to `fd`."""
    return f'(data (i32.const 64) "{_wat_text(text)}")', _write(fd, 64, len(text.encode()))


# Copies stdin to stdout, chunk by chunk, until end of file.
ECHO = f"""(module {FD_READ} {FD_WRITE}
  (memory (export "memory") 2)
  (func (export "_start") (local $n i32)
    (loop $more
      (i32.store (i32.const 16) (i32.const 1024))
      (i32.store (i32.const 20) (i32.const 65536))
      (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
      (local.set $n (i32.load (i32.const 24)))
      (if (local.get $n) (then {_write(1, 1024, 0)}
        (i32.store (i32.const 4) (local.get $n))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (br $more)))))
)"""


def _say_and_exit(fd: int, text: str, status: int) -> str:
    """A command that writes `text` to `fd` and exits with `status`."""
    data, code = _say(fd, text)
    return f"""(module {FD_WRITE} {PROC_EXIT} (memory (export "memory") 1) {data}
  (func (export "_start") {code} (call $proc_exit (i32.const {status}))))"""


# Exits with status 2 after a panic on stderr, as Go does.
PANIC = _say_and_exit(2, "panic: boom\n\ngoroutine 1 [running]:\n", 2)
# Says why on stderr and exits with status 3: an application failure.
REFUSE = _say_and_exit(2, "starting\nno such customer: 42\n", 3)
EXIT_ZERO = _say_and_exit(1, "ok", 0)
SILENT_EXIT = f"""(module {PROC_EXIT} (memory (export "memory") 1)
  (func (export "_start") (call $proc_exit (i32.const 4))))"""
TRAP = '(module (memory (export "memory") 1) (func (export "_start") unreachable))'
LOOP = '(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))'
# Loops forever, but through a system call each time round.
YIELD_LOOP = f"""(module {SCHED_YIELD} (memory (export "memory") 1)
  (func (export "_start") (loop $l (drop (call $sched_yield)) (br $l))))"""
# Writes 16 x 4 KiB on stdout.
FLOOD = f"""(module {FD_WRITE} (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $more {_write(1, 1024, 4096)}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const 16))))))"""
# A global that starts at 0 and that each run increments and prints: always "1" when
# every run gets a fresh instance.
COUNTER = f"""(module {FD_WRITE} (memory (export "memory") 1)
  (global $runs (mut i32) (i32.const 0))
  (func (export "_start")
    (global.set $runs (i32.add (global.get $runs) (i32.const 1)))
    (i32.store8 (i32.const 64) (i32.add (i32.const 48) (global.get $runs)))
    {_write(1, 64, 1)}))"""
# Grows memory a page at a time until refused, then traps, as an allocator would.
HOG = """(module (memory (export "memory") 1)
  (func (export "_start")
    (loop $more (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))"""


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(params=ENGINES)
def config(request: pytest.FixtureRequest, cache_dir: Path) -> RuntimeConfig:
    return RuntimeConfig(engine=request.param, cache_dir=cache_dir)


@pytest.fixture
def wordcount(go_wordcount_wasm: Path, config: RuntimeConfig) -> CommandModule:
    return CommandModule(go_wordcount_wasm, config)


def _wat(tmp_path: Path, text: str, name: str = "cmd") -> Path:
    return write_wat(tmp_path / f"{name}.wasm", text)


def test_request_on_stdin(wordcount: CommandModule) -> None:
    answer = json.loads(wordcount.run(b"The cat saw the other cat.\nThe end"))
    assert answer == {
        "source": "stdin",
        "lines": 2,
        "words": 8,
        "counts": {"cat": 2, "end": 1, "other": 1, "saw": 1, "the": 3},
    }


def test_request_in_the_environment(wordcount: CommandModule) -> None:
    answer = json.loads(wordcount.run("héllo wörld héllo".encode(), request_in_env=True))
    assert answer["source"] == "env"
    assert answer["counts"] == {"héllo": 2, "wörld": 1}


def test_caller_environment(wordcount: CommandModule) -> None:
    # The guest sees the caller's variables; this one it reads as its request.
    encoded = base64.b64encode(b"one two two").decode()
    answer = json.loads(wordcount.run(b"ignored", env={REQUEST_ENV: encoded}))
    assert (answer["source"], answer["counts"]) == ("env", {"one": 1, "two": 2})


def test_a_large_request(wordcount: CommandModule) -> None:
    text = b"lorem ipsum dolor\n" * 60_000  # ~1 MiB, far past any pipe buffer
    answer = json.loads(wordcount.run(text))
    assert answer["words"] == 180_000
    assert answer["lines"] == 60_000


def test_bad_input_is_an_application_error(wordcount: CommandModule) -> None:
    with pytest.raises(GuestError) as info:
        wordcount.run(b"\xff\xfe not text")
    error = info.value
    assert error.code is StatusCode.UNKNOWN
    assert "go-wordcount.wasm exited with status 1" in str(error)
    assert "wordcount: the request is not UTF-8 text" in error.status_message
    # The module goes on.
    assert json.loads(wordcount.run(b"fine"))["words"] == 1


def test_exit_status_and_last_stderr_line(tmp_path: Path, config: RuntimeConfig) -> None:
    with pytest.raises(GuestError, match=r"exited with status 3: no such customer: 42$"):
        CommandModule(_wat(tmp_path, REFUSE), config).run(b"")
    with pytest.raises(GuestError, match="exited with status 4: it wrote nothing on stderr"):
        CommandModule(_wat(tmp_path, SILENT_EXIT, "silent"), config).run(b"")


def test_exit_zero_is_success(tmp_path: Path, config: RuntimeConfig) -> None:
    assert CommandModule(_wat(tmp_path, EXIT_ZERO), config).run(b"") == b"ok"


def test_a_panic_is_a_trap(tmp_path: Path, config: RuntimeConfig) -> None:
    with pytest.raises(GuestTrap, match=r"exited with status 2 \(panic: boom\)") as info:
        CommandModule(_wat(tmp_path, PANIC), config).run(b"")
    assert info.value.guest_exit_code == 2
    assert "goroutine 1" in info.value.guest_stderr


def test_a_trap(tmp_path: Path, config: RuntimeConfig) -> None:
    with pytest.raises(GuestTrap, match="unreachable"):
        CommandModule(_wat(tmp_path, TRAP), config).run(b"")


def test_echo_binary_bytes_up_to_the_limit(tmp_path: Path, config: RuntimeConfig) -> None:
    echo = CommandModule(_wat(tmp_path, ECHO), dataclasses.replace(config, max_message_bytes=256))
    request = bytes(range(256))
    assert echo.run(request) == request
    assert echo.run(b"") == b""


def test_a_response_over_the_limit(tmp_path: Path, config: RuntimeConfig) -> None:
    small = dataclasses.replace(config, max_message_bytes=1000)
    with pytest.raises(ResourceExhausted, match="over the limit of 1000 bytes"):
        CommandModule(_wat(tmp_path, FLOOD), small).run(b"")


def test_a_request_over_the_limit(tmp_path: Path, config: RuntimeConfig) -> None:
    echo = CommandModule(_wat(tmp_path, ECHO), dataclasses.replace(config, max_message_bytes=10))
    with pytest.raises(ResourceExhausted, match="request of 11 bytes is over the limit"):
        echo.run(b"x" * 11)


def test_each_run_is_a_fresh_instance(tmp_path: Path, config: RuntimeConfig) -> None:
    counter = CommandModule(_wat(tmp_path, COUNTER), config)
    assert [counter.run(b"") for _ in range(3)] == [b"1", b"1", b"1"]


def test_runs_from_many_threads(wordcount: CommandModule) -> None:
    results: dict[int, int] = {}

    def worker(n: int) -> None:
        results[n] = json.loads(wordcount.run(b"w " * n))["words"]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: n for n in range(1, 7)}


def test_a_loop_through_system_calls_meets_its_deadline(
    tmp_path: Path, config: RuntimeConfig
) -> None:
    looping = CommandModule(_wat(tmp_path, YIELD_LOOP), config)
    with pytest.raises(DeadlineExceeded) as info:
        looping.run(b"", timeout_s=0.2)
    assert info.value.timeout_s == 0.2


def test_an_endless_loop_meets_its_deadline(tmp_path: Path, cache_dir: Path) -> None:
    # wasmtime only: wasmer-sdk 0.5 stops a guest only at its next system call, so a
    # pure loop would go on spinning a CPU for the rest of the test session.
    config = RuntimeConfig(cache_dir=cache_dir, call_timeout_s=0.2)
    with pytest.raises(DeadlineExceeded, match="cmd.wasm ran past its deadline of 0.2 s"):
        CommandModule(_wat(tmp_path, LOOP), config).run(b"")
    # Runs are independent: the next one is fine.
    assert CommandModule(_wat(tmp_path, EXIT_ZERO, "ok"), config).run(b"") == b"ok"


def test_memory_limit(tmp_path: Path, cache_dir: Path) -> None:
    # wasmtime only: wasmer-sdk 0.5 has no memory limit.
    config = RuntimeConfig(cache_dir=cache_dir, memory_limit_bytes=1 << 20)
    with pytest.raises(MemoryLimitExceeded):
        CommandModule(_wat(tmp_path, HOG), config).run(b"")


@pytest.mark.parametrize(
    "env",
    [{"A=B": "x"}, {"": "x"}, {"A": "x\0y"}, {"A": 1}],
    ids=["equals", "empty", "nul", "not-str"],
)
def test_variables_that_cannot_be_passed(
    tmp_path: Path, cache_dir: Path, env: dict[str, object]
) -> None:
    echo = CommandModule(_wat(tmp_path, ECHO), RuntimeConfig(cache_dir=cache_dir))
    with pytest.raises(InvalidArguments, match="environment variable"):
        echo.run(b"", env=env)  # type: ignore[arg-type]


def test_refuses_other_kinds_of_module(tmp_path: Path, config: RuntimeConfig) -> None:
    with pytest.raises(LoadError, match="is a bridge module, not a WASI command"):
        CommandModule(wat_module(tmp_path), config)
    plain = write_wat(
        tmp_path / "plain.wasm", '(module (func (export "f") (result i32) i32.const 1))'
    )
    with pytest.raises(LoadError, match="is a module of plain exports .*, not a WASI command"):
        CommandModule(plain, config)


def test_closed(tmp_path: Path, cache_dir: Path) -> None:
    with CommandModule(_wat(tmp_path, EXIT_ZERO), RuntimeConfig(cache_dir=cache_dir)) as ok:
        assert ok.run(b"") == b"ok"
    with pytest.raises(ModuleClosed, match="closed"):  # a ValueError too, as before
        ok.run(b"")


# --- What the Wasmer engine refuses ------------------------------------------------------


def test_wasmer_refuses_fuel_and_directories(tmp_path: Path, cache_dir: Path) -> None:
    path = _wat(tmp_path, EXIT_ZERO)
    with pytest.raises(ConfigError, match="fuel is not available on engine 'wasmer'"):
        CommandModule(path, RuntimeConfig(engine="wasmer", cache_dir=cache_dir, fuel=1000))
    dirs = {str(tmp_path): "/data"}
    with pytest.raises(ConfigError, match="wasi_dirs cannot be granted on engine 'wasmer'"):
        CommandModule(path, RuntimeConfig(engine="wasmer", cache_dir=cache_dir, wasi_dirs=dirs))


def test_wasmer_without_the_extra(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "wasmer_sdk", None)  # import fails
    command._wasmer_sdk.cache_clear()
    try:
        with pytest.raises(
            ConfigError, match=r"needs the wasmer-sdk package.*bridge-wasm\[wasmer\]"
        ):
            CommandModule(
                _wat(tmp_path, EXIT_ZERO), RuntimeConfig(engine="wasmer", cache_dir=cache_dir)
            )
    finally:
        command._wasmer_sdk.cache_clear()
