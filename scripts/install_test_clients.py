"""Install the gRPC clients the tests call `bridge serve` with, when they are missing.

- tests/sidecar/node: @grpc/grpc-js and @grpc/proto-loader from the npm registry, at the
  versions its package-lock.json pins (`npm ci`), again only when the lockfile changes.
- grpcurl, built by bridge's Go into build/tools/bin (`go install ...grpcurl@VERSION`).
- chromium, Debian's, with apt when run as root: the headless browser that renders
  `bridge report --html` in its test.

bridge itself needs neither, so this never fails the test command: when a client cannot
be installed it says why and how to get it, and the tests that need it skip with the
reason. Run by scripts/test; quick and quiet when everything is in place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bridge.guest import toolchain

ROOT = Path(__file__).resolve().parent.parent
NODE_CLIENT = ROOT / "tests" / "sidecar" / "node"
#: Written into node_modules after a successful `npm ci`: the lockfile it installed.
NODE_STAMP = NODE_CLIENT / "node_modules" / ".bridge-installed"

GRPCURL_PACKAGE = "github.com/fullstorydev/grpcurl/cmd/grpcurl"
GRPCURL_VERSION = "v1.9.3"
TOOLS_BIN = ROOT / "build" / "tools" / "bin"
GRPCURL = TOOLS_BIN / "grpcurl"
GRPCURL_STAMP = TOOLS_BIN.parent / "grpcurl.version"
#: Why the last attempt failed; no new attempt for a day (delete it to retry now).
GRPCURL_FAILED = TOOLS_BIN.parent / "grpcurl.failed"
RETRY_AFTER_S = 24 * 3600


def say(message: str) -> None:
    print(f"install_test_clients: {message}", flush=True)


def run_quietly(argv: list[str], *, cwd: Path, env: dict[str, str], timeout_s: float) -> str | None:
    """Run `argv`, showing its output only when it fails; None, or why it failed."""
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return f"`{' '.join(argv)}` took longer than {timeout_s:g} s"
    except OSError as exc:
        return f"`{argv[0]}` cannot run: {exc}"
    if done.returncode == 0:
        return None
    output = (done.stdout + done.stderr).strip()
    print(output, file=sys.stderr)
    last = output.splitlines()[-1] if output else "no output"
    return f"`{' '.join(argv)}` failed (exit status {done.returncode}): {last}"


def lock_digest() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((NODE_CLIENT / name).read_bytes())
    return digest.hexdigest()


def ensure_node_client() -> bool:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        sudo = "" if os.geteuid() == 0 else "sudo "
        say(f"{missing} not found: the Node.js client tests will skip. To run them:")
        print(f"  {sudo}apt-get update && {sudo}apt-get install -y nodejs npm")
        return False
    want = lock_digest()
    if NODE_STAMP.is_file() and NODE_STAMP.read_text().strip() == want:
        return True
    say(f"installing @grpc/grpc-js and @grpc/proto-loader into {NODE_CLIENT.relative_to(ROOT)}")
    # --ignore-scripts: nothing the client needs runs at install time (protobufjs's
    # postinstall only checks its optional CLI), and npm versions differ on running it.
    argv = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
    error = run_quietly(argv, cwd=NODE_CLIENT, env=dict(os.environ), timeout_s=600)
    if error is not None:
        say(f"{error}: the Node.js client tests will skip")
        return False
    NODE_STAMP.write_text(want + "\n")
    return True


def ensure_grpcurl() -> bool:
    installed = GRPCURL_STAMP.read_text().strip() if GRPCURL_STAMP.is_file() else None
    if GRPCURL.is_file() and installed == GRPCURL_VERSION:
        return True
    if GRPCURL_FAILED.is_file() and time.time() - GRPCURL_FAILED.stat().st_mtime < RETRY_AFTER_S:
        reason = GRPCURL_FAILED.read_text().strip()
        say(f"grpcurl: not retried ({reason}); delete {GRPCURL_FAILED} to retry now")
        return False
    go = toolchain.find_go()
    if go is None:
        return _grpcurl_failed(f"no Go to build it with ({toolchain.go_install_hint()})")
    say(f"building grpcurl {GRPCURL_VERSION} with {go.version} into {TOOLS_BIN.relative_to(ROOT)}")
    TOOLS_BIN.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        GOBIN=str(TOOLS_BIN),
        GOTOOLCHAIN="local",  # build with this Go, never download another
        CGO_ENABLED="0",
        PATH=f"{go.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    argv = [str(go.path), "install", f"{GRPCURL_PACKAGE}@{GRPCURL_VERSION}"]
    error = run_quietly(argv, cwd=ROOT, env=env, timeout_s=600)
    if error is not None:
        return _grpcurl_failed(error)
    GRPCURL_STAMP.write_text(GRPCURL_VERSION + "\n")
    GRPCURL_FAILED.unlink(missing_ok=True)
    return True


def _grpcurl_failed(reason: str) -> bool:
    GRPCURL_FAILED.parent.mkdir(parents=True, exist_ok=True)
    GRPCURL_FAILED.write_text(reason + "\n")
    say(f"grpcurl was not installed: {reason}; the grpcurl tests will skip")
    return False


def ensure_chromium() -> bool:
    if find_chromium() is not None:
        return True
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
    if os.geteuid() != 0:
        say("chromium not found: the HTML report's browser test will skip. To run it:")
        print(f"  sudo apt-get update && sudo {' '.join(command[:-2])} chromium")
        return False
    say("installing Debian's chromium with apt (the HTML report's browser test)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-qq"], command):
        error = run_quietly(argv, cwd=ROOT, env=env, timeout_s=900)
        if error is not None:
            say(f"{error}: the HTML report's browser test will skip")
            return False
    return find_chromium() is not None


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def main() -> int:
    started = time.monotonic()
    node = ensure_node_client()
    grpcurl = ensure_grpcurl()
    chromium = ensure_chromium()
    elapsed = time.monotonic() - started
    if node and grpcurl and chromium and elapsed > 1:
        say(f"test clients ready in {elapsed:.1f} s")
    return 0  # the tests skip, with the reason, what is missing


if __name__ == "__main__":
    sys.exit(main())
