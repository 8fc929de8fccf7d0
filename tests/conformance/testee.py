"""A testee for protobuf's official `conformance_test_runner`, answered by a bridge guest.

The guest is `bridge conformance`'s echo guest (bridge.conformance: one echo method per
message type), built by bridge's own codegen from protobuf's UNMODIFIED
test_messages_proto3.proto and test_messages_proto2.proto, and loaded in this process.
Every binary request (protobuf in, protobuf out) goes through the echo method of its
message type: what the guest answers is the protobuf_payload; a GuestError
INVALID_ARGUMENT is a parse_error, a GuestError INTERNAL (a reply protobuf refuses to
serialize) a serialize_error, any other error a runtime_error. JSON, JSPB and text-format
requests (in or out) are answered `skipped`, with the reason.

Build a guest (its .wasm and, beside it, `<wasm>.json`: message type -> echo method):

    .venv/bin/python tests/conformance/testee.py build --lang go \\
        --source build/tools/protobuf/src --out /tmp/conformance-go

Run the runner on it (the runner executes `tests/conformance/testee`, a shell wrapper
that starts this file with the repository's Python):

    build/tools/protobuf/bin/conformance_test_runner --enforce_recommended \\
        tests/conformance/testee /tmp/conformance-go/conformance-go.wasm

The protocol (protobuf's conformance/conformance.proto): a little-endian uint32 length
and a ConformanceRequest on stdin, the same framing for a ConformanceResponse on stdout,
until stdin ends. The two messages are read and written by hand (a few fields), so the
testee needs neither protoc nor conformance.proto.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from bridge.conformance import varint

#: Where protobuf's test schemas live in its source tree.
PROTOS = (
    "google/protobuf/test_messages_proto3.proto",
    "google/protobuf/test_messages_proto2.proto",
)
FAILURE_SET = "conformance.FailureSet"
ROOT = Path(__file__).resolve().parents[2]
#: Where scripts/install_test_clients.py puts protobuf's source and the runner.
PROTOBUF = ROOT / "build" / "tools" / "protobuf"

# conformance.proto's numbers.
_REQ_PROTOBUF, _REQ_JSON, _REQ_JSPB, _REQ_TEXT = 1, 2, 7, 8
_REQ_OUTPUT_FORMAT, _REQ_MESSAGE_TYPE = 3, 4
_FORMAT_PROTOBUF = 1
_FORMAT_NAMES = {0: "UNSPECIFIED", 1: "PROTOBUF", 2: "JSON", 3: "JSPB", 4: "TEXT_FORMAT"}
_RES_PARSE_ERROR, _RES_SERIALIZE_ERROR, _RES_RUNTIME_ERROR = 1, 6, 2
_RES_PROTOBUF, _RES_SKIPPED = 3, 5


# ---- what scripts/install_test_clients.py installs ----


def protobuf_source() -> Path | None:
    """protobuf's unpacked source (BRIDGE_PROTOBUF_SOURCE, else build/tools/protobuf/src),
    or None when its test schemas are not there."""
    source = Path(os.environ.get("BRIDGE_PROTOBUF_SOURCE") or PROTOBUF / "src")
    if all((source / "src" / name).is_file() for name in PROTOS):
        return source
    return None


def protobuf_runner() -> Path | None:
    """The built conformance_test_runner, or None."""
    runner = PROTOBUF / "bin" / "conformance_test_runner"
    return runner if runner.is_file() else None


# ---- building the guest ----


def methods_file(wasm: Path) -> Path:
    return wasm.with_name(wasm.name + ".json")


def build(
    language: str, source: Path, out: Path, extra: Sequence[Path] = (), extra_root: Path = ROOT
) -> Path:
    """Build the echo guest of protobuf's test schemas in `language` under `out`; the
    .wasm's path (its method map is written beside it, see `methods_file`). `extra`
    files (under the include root `extra_root`) get echo methods too: the runner never
    asks for their types, the differential tests do."""
    from bridge.conformance import build_guest, prepare
    from bridge.guest.build import Language

    root = source / "src"
    includes = [root, extra_root] if extra else [root]
    plan = prepare([root / p for p in PROTOS] + list(extra), includes, out / "proto")
    wasm = build_guest(Language(language), plan, out)
    methods_file(wasm).write_text(json.dumps(plan.methods, indent=1), encoding="utf-8")
    return wasm


# ---- the wire, by hand ----


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(number, value) of each field: an int for varints, bytes for the rest."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            size, pos = _varint(data, pos)
            yield number, data[pos : pos + size]
            pos += size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, data[pos : pos + size]
            pos += size
        else:
            raise ValueError(f"wire type {wire} in a ConformanceRequest")


def _response(number: int, value: bytes | str) -> bytes:
    raw = value.encode("utf-8", "replace") if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(raw)) + raw


# ---- answering ----


class Testee:
    def __init__(self, wasm: Path) -> None:
        import bridge

        self.methods: dict[str, str] = json.loads(methods_file(wasm).read_text("utf-8"))
        self.guest = bridge.load(wasm)

    def answer(self, request: bytes) -> bytes:
        from bridge.errors import CallError, GuestError, StatusCode

        payload: bytes | None = None
        skip: str | None = None
        output = 0
        message_type = ""
        for number, value in _fields(request):
            if number == _REQ_PROTOBUF:
                assert isinstance(value, bytes)
                payload = value
            elif number in (_REQ_JSON, _REQ_JSPB, _REQ_TEXT):
                kind = {_REQ_JSON: "JSON", _REQ_JSPB: "JSPB", _REQ_TEXT: "text-format"}[number]
                skip = f"{kind} input: bridge guests speak the binary format only"
            elif number == _REQ_OUTPUT_FORMAT:
                assert isinstance(value, int)
                output = value
            elif number == _REQ_MESSAGE_TYPE:
                assert isinstance(value, bytes)
                message_type = value.decode("utf-8")
        if message_type == FAILURE_SET:  # the runner asks for our failure list: none
            return _response(_RES_PROTOBUF, b"")
        if skip is None and output != _FORMAT_PROTOBUF:
            name = _FORMAT_NAMES.get(output, str(output))
            skip = f"{name} output: bridge guests speak the binary format only"
        if skip is not None:
            return _response(_RES_SKIPPED, skip)
        if payload is None:
            return _response(_RES_RUNTIME_ERROR, "a request without a payload")
        method = self.methods.get(message_type)
        if method is None:
            return _response(_RES_RUNTIME_ERROR, f"no echo method for {message_type!r}")
        try:
            return _response(_RES_PROTOBUF, self.guest.call(method, payload))
        except GuestError as exc:
            if exc.code is StatusCode.INVALID_ARGUMENT:
                return _response(_RES_PARSE_ERROR, str(exc))
            if exc.code is StatusCode.INTERNAL:
                return _response(_RES_SERIALIZE_ERROR, str(exc))
            return _response(_RES_RUNTIME_ERROR, f"{type(exc).__name__}: {exc}")
        except CallError as exc:  # a trap, a deadline, ...
            return _response(_RES_RUNTIME_ERROR, f"{type(exc).__name__}: {exc}")

    def serve(self, stdin: object, stdout: object) -> None:
        read = stdin.read  # type: ignore[attr-defined]
        write = stdout.write  # type: ignore[attr-defined]
        flush = stdout.flush  # type: ignore[attr-defined]
        while True:
            head = read(4)
            if len(head) < 4:
                return
            (size,) = struct.unpack("<I", head)
            request = read(size)
            answer = self.answer(request)
            write(struct.pack("<I", len(answer)) + answer)
            flush()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the echo guest of protobuf's test schemas")
    b.add_argument("--lang", choices=("go", "rust"), required=True)
    b.add_argument("--source", type=Path, required=True, help="protobuf's source root")
    b.add_argument("--out", type=Path, required=True, help="the build directory")
    s = sub.add_parser("serve", help="answer the runner's requests on stdin/stdout")
    s.add_argument("wasm", type=Path)
    args = parser.parse_args(argv)
    if args.command == "build":
        print(build(args.lang, args.source.resolve(), args.out.resolve()))
        return 0
    Testee(args.wasm).serve(sys.stdin.buffer, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
