"""bridge/options.proto as a Python module: what `*_pb2.py` files that import the proto
import (`from bridge import options_pb2`).

Written by hand rather than by protoc, so that it does not pin the protobuf runtime to
the version of the protoc that made it; tests/schema/test_options.py checks that it
matches bridge/schema/proto/bridge/options.proto as protoc compiles it.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool

_F = descriptor_pb2.FieldDescriptorProto

FILE = descriptor_pb2.FileDescriptorProto(
    name="bridge/options.proto",
    package="bridge",
    dependency=["google/protobuf/descriptor.proto"],
    syntax="proto3",
    extension=[
        _F(
            name="host",
            number=50801,
            label=_F.LABEL_OPTIONAL,
            type=_F.TYPE_BOOL,
            extendee=".google.protobuf.ServiceOptions",
            json_name="host",
        )
    ],
)

# protobuf's own descriptor.proto must be in the pool first.
descriptor_pb2.DESCRIPTOR  # noqa: B018

try:
    DESCRIPTOR = descriptor_pool.Default().FindFileByName(FILE.name)
except KeyError:
    DESCRIPTOR = descriptor_pool.Default().AddSerializedFile(FILE.SerializeToString())

#: The `(bridge.host)` service option: the service is implemented by the Python host.
host = DESCRIPTOR.extensions_by_name["host"]
