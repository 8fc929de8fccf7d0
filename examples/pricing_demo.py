"""The main job, end to end: build the Go and Rust pricing guests, call both from Python.

Run it with `./scripts/demo` (which installs what is missing first). It builds
examples/go-pricing and examples/rust-pricing into build/, compiles the schema with
grpcio-tools for the Python messages, and calls every method of both guests, including
one that fails on purpose, printing what each answered.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from grpc_tools import protoc

import bridge
from bridge import _output as out
from bridge.guest.build import build

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
PROTO_ROOT = ROOT / "proto" / "examples"


def python_messages() -> object:
    """pricing_pb2, compiled from proto/examples by grpcio-tools into build/gen."""
    gen = BUILD / "gen"
    gen.mkdir(parents=True, exist_ok=True)
    proto = PROTO_ROOT / "pricing" / "v1" / "pricing.proto"
    if protoc.main(["protoc", f"-I{PROTO_ROOT}", f"--python_out={gen}", str(proto)]) != 0:
        sys.exit("grpcio-tools could not compile pricing.proto")
    sys.path.insert(0, str(gen))
    return importlib.import_module("pricing.v1.pricing_pb2")


def main() -> int:
    pb = python_messages()
    rows: list[list[str]] = []
    for name in ("go-pricing", "rust-pricing"):
        with out.progress(f"building examples/{name} ..."):
            built = build(ROOT / "examples" / name, BUILD / f"{name}.wasm")
        out.out_console.print(
            f"built {built.output.relative_to(ROOT)}: {built.size_bytes // 1024} KiB with "
            f"{built.toolchain.label} in {built.seconds:.1f} s"
        )
        with bridge.load(built.output) as guest:
            calls = [
                ("Quote", pb.QuoteRequest(sku="pear 2", quantity=12, unit_price_cents=75)),  # type: ignore[attr-defined]
                ("Quote", pb.QuoteRequest(sku="apple 1", quantity=0, unit_price_cents=50)),  # type: ignore[attr-defined]
                ("NormalizeSku", pb.NormalizeSkuRequest(sku="  plum 3 ")),  # type: ignore[attr-defined]
                ("Lookup", pb.LookupRequest(sku="apple-1")),  # type: ignore[attr-defined]
                ("Lookup", pb.LookupRequest(sku="kiwi")),  # type: ignore[attr-defined]
            ]
            for method, request in calls:
                response_type = getattr(pb, f"{method}Response")
                try:
                    raw = guest.call(f"pricing.v1.Pricing/{method}", request.SerializeToString())
                    answer = _short(response_type.FromString(raw))
                except bridge.GuestError as exc:
                    answer = f"error {exc.code.name}: {exc.status_message}"
                rows.append([name.split("-")[0], method, _short(request), answer])
    out.print_table(["guest", "method", "request", "answer"], rows)
    out.out_console.print(
        "Both guests were built from source and called in-process through bridge ABI v1 "
        "(docs/abi.md)."
    )
    return 0


def _short(message: object) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(message, as_one_line=True) or "{}"  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
