"""Guest stdout and stderr, carried by pipes into Python logging by one thread of ours.

wasmtime's custom WASI output callbacks run on wasmtime's own threads and are released
from there when a store is dropped; at interpreter exit that calls into a finalizing
Python and aborts the process with a Rust panic. Pipes keep every Python call on a
Python thread: wasmtime writes to a file descriptor, our pump thread reads it.

After fork() the child has a pump of its own (new thread, epoll set and wake pipe): the
parent's epoll set is shared with the child, so the child never touches it, and never
reads the pipes of the instances it inherited (the parent reads them).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
from dataclasses import dataclass, field

__all__ = ["GuestOutput", "after_fork_in_child"]

guest_log = logging.getLogger("bridge.guest")

# How much of a guest's stderr to keep for the message of a trap (panics are printed there).
STDERR_TAIL_BYTES = 4096
_READ_SIZE = 65536


@dataclass(eq=False)
class _Stream:
    owner: GuestOutput
    name: str  # "stdout" or "stderr"
    fd: int
    lock: threading.Lock = field(default_factory=threading.Lock)


class GuestOutput:
    """The stdout and stderr pipes of one instance.

    `stdout_path`/`stderr_path` are handed to wasmtime's WasiConfig, which opens them; the
    caller then calls `writers_opened()` so that the pipes end when wasmtime closes its
    copies. `tail()` returns what the guest wrote to stderr lately, read up to now.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._tail = bytearray()
        self._writers: list[int] = []
        self._streams: list[_Stream] = []
        for stream in ("stdout", "stderr"):
            read_fd, write_fd = os.pipe()
            os.set_blocking(read_fd, False)
            self._writers.append(write_fd)
            self._streams.append(_Stream(self, stream, read_fd))
        _pump.register(self._streams)

    @property
    def stdout_path(self) -> str:
        return f"/dev/fd/{self._writers[0]}"

    @property
    def stderr_path(self) -> str:
        return f"/dev/fd/{self._writers[1]}"

    def writers_opened(self) -> None:
        """wasmtime holds its own descriptors now; ours would keep the pipes open forever."""
        for fd in self._writers:
            os.close(fd)
        self._writers.clear()

    def tail(self) -> str:
        """What the guest wrote to stderr lately, including anything not pumped yet."""
        _drain(self._streams[1])
        return self._tail.decode("utf-8", "replace").strip()

    def clear(self) -> None:
        self._tail.clear()

    def close(self) -> None:
        """Stop reading (the pump also stops by itself at end of file); safe to call twice."""
        self.writers_opened()
        for stream in self._streams:
            _pump.unregister(stream)

    def _received(self, stream: str, data: bytes) -> None:
        if stream == "stderr":
            self._tail += data
            del self._tail[:-STDERR_TAIL_BYTES]
        level = logging.WARNING if stream == "stderr" else logging.INFO
        for line in data.decode("utf-8", "replace").splitlines():
            guest_log.log(level, "%s %s: %s", self.name, stream, line)


def _drain(stream: _Stream) -> bool:
    """Read what is in the pipe now; False at end of file (the writer is gone)."""
    with stream.lock:
        if stream.fd < 0:
            return False
        while True:
            try:
                data = os.read(stream.fd, _READ_SIZE)
            except BlockingIOError:
                return True
            if not data:
                return False
            stream.owner._received(stream.name, data)


class _Pump:
    """One daemon thread that moves every instance's output into logging."""

    def __init__(self) -> None:
        self._setup()

    def _setup(self) -> None:
        self._pid = os.getpid()
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None

    def after_fork_in_child(self) -> None:
        """Start over in a forked child; once, whoever calls it first."""
        if self._pid == os.getpid():
            return
        inherited = [key.data for key in self._selector.get_map().values() if key.data]
        # close(), never unregister(): the epoll set is the parent's as well, and
        # unregistering would stop the parent's pump from reading those pipes.
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        for stream in inherited:
            stream.lock = threading.Lock()  # the parent's pump may have held it
        self._setup()

    def register(self, streams: list[_Stream]) -> None:
        with self._lock:
            for stream in streams:
                self._selector.register(stream.fd, selectors.EVENT_READ, stream)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="bridge-guest-output", daemon=True
                )
                self._thread.start()
        os.write(self._wake_w, b"x")

    def unregister(self, stream: _Stream) -> None:
        with self._lock, stream.lock:
            if stream.fd < 0:
                return
            # Not registered here: a stream inherited through fork(), the parent's.
            with contextlib.suppress(KeyError):
                self._selector.unregister(stream.fd)
            os.close(stream.fd)
            stream.fd = -1

    def _run(self) -> None:
        while True:
            for key, _ in self._selector.select():
                stream = key.data
                if stream is None:
                    _empty_wake_pipe(self._wake_r)
                elif not _drain(stream):
                    self.unregister(stream)


def _empty_wake_pipe(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


_pump = _Pump()


def after_fork_in_child() -> None:
    """Give a forked child its own pump. Idempotent: pools call it first thing in their
    own fork handling, whose filler closes inherited instances (and their streams)."""
    _pump.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=after_fork_in_child)
