"""Python stubs: grpcio-tools' own `*_pb2.py`, `*_pb2_grpc.py` and `*_pb2.pyi`.

protoc runs on the schema's FileDescriptorSet (`--descriptor_set_in`), not on the .proto
text again, so the Python stubs come from exactly the model the other emitters read.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import SchemaError
from ..schema.model import Schema
from .base import GeneratedFile

__all__ = ["emit"]


def emit(schema: Schema) -> list[GeneratedFile]:
    """The standard Python modules for the schema's target files."""
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory(prefix="bridge-python-") as tmp:
        root = Path(tmp)
        descriptors = root / "schema.binpb"
        descriptors.write_bytes(schema.descriptor_set)
        out = root / "out"
        out.mkdir()
        status = protoc.main(
            [
                "protoc",
                f"--descriptor_set_in={descriptors}",
                f"--python_out={out}",
                f"--pyi_out={out}",
                f"--grpc_python_out={out}",
                *schema.targets,
            ]
        )
        if status != 0:
            raise SchemaError(f"grpcio-tools could not generate Python for {schema.targets}")
        return [
            GeneratedFile(str(p.relative_to(out)), p.read_text(encoding="utf-8"))
            for p in sorted(out.rglob("*"))
            if p.is_file()
        ]
