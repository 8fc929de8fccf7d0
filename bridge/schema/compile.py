"""`.proto` files -> a FileDescriptorSet, through grpcio-tools' own protoc.

No hand-written parser: grpc_tools.protoc runs the real protoc in-process. Its errors
go to the process's stderr (C++), so they are captured from file descriptor 2 and the
first one becomes a SchemaError naming the file and line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

from ..errors import SchemaError

__all__ = ["bridge_include", "compile_protos", "well_known_include"]


def well_known_include() -> Path:
    """The directory of the well-known types grpcio-tools ships (google/protobuf/*.proto)."""
    return Path(str(resources.files("grpc_tools") / "_proto"))


def bridge_include() -> Path:
    """The directory of bridge's own options (bridge/options.proto), always on the path."""
    return Path(__file__).resolve().parent / "proto"


def compile_protos(files: Sequence[Path], includes: Sequence[Path] = ()) -> bytes:
    """Compile `files` (with imports and source info) into serialized FileDescriptorSet bytes.

    Each file must sit under one of `includes` (default: its own directory).
    """
    from grpc_tools import protoc

    if not files:
        raise SchemaError("no .proto file given")
    for file in files:
        if not file.is_file():
            raise SchemaError(f"no .proto file at {file}")
    # protoc matches each file against the include roots by path prefix: both absolute.
    files = [f.resolve() for f in files]
    roots = [i.resolve() for i in includes] or sorted({f.parent for f in files})
    with tempfile.TemporaryDirectory(prefix="bridge-schema-") as tmp:
        out = Path(tmp) / "schema.pb"
        argv = [
            "protoc",
            *(f"-I{root}" for root in roots),
            f"-I{well_known_include()}",
            f"-I{bridge_include()}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            "--include_source_info",
            *(str(f) for f in files),
        ]
        with _captured_stderr() as errors:
            status = protoc.main(argv)
            said = errors.read_text(errors="replace")
        if status != 0:
            lines = [ln for ln in said.splitlines() if ln.strip()]
            first = lines[0] if lines else f"protoc failed with status {status}"
            raise SchemaError(first)
        return out.read_bytes()


@contextlib.contextmanager
def _captured_stderr() -> Iterator[Path]:
    """Redirect file descriptor 2 (where protoc's C++ writes) into a file for a moment."""
    with tempfile.NamedTemporaryFile(prefix="bridge-protoc-", suffix=".log") as log:
        saved = os.dup(2)
        try:
            os.dup2(log.fileno(), 2)
            yield Path(log.name)
            os.fsync(2)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
