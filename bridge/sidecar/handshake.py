"""The sidecar's ready line: one line that says it serves, and where (pure functions), and
where the workers of `bridge serve --processes N` listen on unix sockets.

    bridge|1|1|unix|/run/bridge/pricing.sock|grpc

Fields, after hashicorp/go-plugin's handshake: a magic word, this handshake's version,
the bridge ABI version the sidecar runs, the network (`unix` or `tcp`), the address and
the protocol. The address of `bridge serve --processes N` on unix sockets lists every
worker's socket, comma-separated: `unix:` and that list is a gRPC target of all of them.
A managed sidecar writes it to a private pipe (so nothing else the process prints can
corrupt it); `bridge serve` also prints it on stdout, where nothing else goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import abi
from ..errors import SidecarError

__all__ = ["HANDSHAKE_VERSION", "Handshake", "sibling_sockets", "worker_socket", "worker_sockets"]

MAGIC = "bridge"
HANDSHAKE_VERSION = 1
# The most sockets of other workers a client looks for beside the first.
MAX_SIBLINGS = 256


@dataclass(frozen=True, slots=True)
class Handshake:
    """Where a ready sidecar listens.

    >>> line = Handshake("unix", "/tmp/s.sock").line()
    >>> line
    'bridge|1|1|unix|/tmp/s.sock|grpc'
    >>> Handshake.parse(line).target
    'unix:/tmp/s.sock'
    """

    network: str
    address: str
    version: int = HANDSHAKE_VERSION
    abi_version: int = abi.ABI_VERSION

    @property
    def target(self) -> str:
        """The gRPC target to dial."""
        return f"unix:{self.address}" if self.network == "unix" else self.address

    def line(self) -> str:
        return "|".join(
            [MAGIC, str(self.version), str(self.abi_version), self.network, self.address, "grpc"]
        )

    @classmethod
    def parse(cls, line: str) -> Handshake:
        """The handshake in `line`; SidecarError says what is wrong with it."""
        parts = line.strip().split("|")
        if len(parts) != 6 or parts[0] != MAGIC or parts[5] != "grpc":
            raise SidecarError(f"the sidecar's first line is not a bridge handshake: {line!r}")
        if parts[1] != str(HANDSHAKE_VERSION):
            raise SidecarError(
                f"the sidecar speaks handshake version {parts[1]}, this bridge "
                f"{HANDSHAKE_VERSION}: run the same bridge version on both sides"
            )
        if parts[2] != str(abi.ABI_VERSION):
            raise SidecarError(
                f"the sidecar runs bridge ABI v{parts[2]}, this bridge v{abi.ABI_VERSION}: "
                "run the same bridge version on both sides"
            )
        if parts[3] not in ("unix", "tcp"):
            raise SidecarError(f"the sidecar's handshake names network {parts[3]!r}")
        return cls(parts[3], parts[4])


def worker_socket(path: Path, index: int) -> Path:
    """The socket worker `index` listens on, for `--socket path`: worker 0 on the path
    itself, worker i on the path with `.i` before its suffix.

    >>> [str(worker_socket(Path("/run/bridge/x.sock"), i)) for i in range(3)]
    ['/run/bridge/x.sock', '/run/bridge/x.1.sock', '/run/bridge/x.2.sock']
    >>> str(worker_socket(Path("/run/sidecar"), 1))
    '/run/sidecar.1'
    """
    if index == 0:
        return path
    return path.with_name(f"{path.stem}.{index}{path.suffix}")


def worker_sockets(path: Path, processes: int) -> list[Path]:
    """The sockets of `processes` workers for `--socket path`."""
    return [worker_socket(path, i) for i in range(processes)]


def sibling_sockets(path: Path) -> list[Path]:
    """`path` and the sockets of the other workers beside it (`x.1.sock`, ...) that exist
    now, up to the first missing one: what a client dials for `--socket path`."""
    found = [path]
    for index in range(1, MAX_SIBLINGS + 1):
        sibling = worker_socket(path, index)
        if not sibling.is_socket():
            break
        found.append(sibling)
    return found
