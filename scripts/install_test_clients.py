"""Install the gRPC clients the tests call `bridge serve` with, when they are missing.

- tests/sidecar/node: @grpc/grpc-js and @grpc/proto-loader from the npm registry, at the
  versions its package-lock.json pins (`npm ci`), again only when the lockfile changes.
- grpcurl, built by bridge's Go into build/tools/bin (`go install ...grpcurl@VERSION`).
- chromium, Debian's, with apt when run as root: the headless browser that renders
  `bridge report --html` in its test.
- gRPC's official interop clients, for tests/interop: grpc-go's (`go install
  google.golang.org/grpc/interop/client@VERSION` into build/tools/interop/go) and
  grpc-java's (io.grpc:grpc-interop-testing from Maven Central, resolved by `mvn` into
  ~/.m2, its classpath written to build/tools/interop/java; Debian's openjdk-17 and maven
  with apt when they are missing and this runs as root), and the official, unmodified
  grpc/testing/{test,messages,empty}.proto, taken from that jar into
  build/tools/interop/proto (what BRIDGE_INTEROP_PROTO names for the tests).
- protobuf's official conformance runner, for tests/conformance/test_official.py: Debian's
  source package `protobuf` (3.21.12) with `apt-get source` (a bookworm `deb-src` entry is
  added to /etc/apt/sources.list.d when none is there, as root) unpacked into
  build/tools/protobuf/src (what BRIDGE_PROTOBUF_SOURCE names for the tests), and its
  `conformance_test_runner` built with g++ against Debian's libprotobuf-dev and
  protobuf-compiler (apt when missing, as root) into build/tools/protobuf/bin.

bridge itself needs neither, so this never fails the test command: when a client cannot
be installed it says why and how to get it, and the tests that need it skip with the
reason. Run by scripts/test; quick and quiet when everything is in place.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
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
# Beside a Go tool's bin folder (see _go_install): TOOL.version, what was installed, and
# TOOL.failed, why the last attempt failed; no new attempt for a day (delete it to retry).
RETRY_AFTER_S = 24 * 3600

#: gRPC's interop clients and protos (tests/interop); tests/interop/clients.py reads
#: the same paths.
INTEROP = ROOT / "build" / "tools" / "interop"
INTEROP_PROTO = INTEROP / "proto"
PROTO_FILES = ("grpc/testing/test.proto", "grpc/testing/messages.proto", "grpc/testing/empty.proto")
GO_INTEROP_PACKAGE = "google.golang.org/grpc/interop/client"
GO_INTEROP_VERSION = "v1.85.0"
GO_INTEROP = INTEROP / "go"  # bin/client, client.version, client.failed
# 1.70.0: the newest grpc-interop-testing that Maven Central serves here.
JAVA_INTEROP_ARTIFACT = "io.grpc:grpc-interop-testing:1.70.0"
JAVA_INTEROP = INTEROP / "java"  # pom.xml, classpath.txt, version, failed
M2 = Path.home() / ".m2" / "repository"
JAVA_PACKAGES = ("openjdk-17-jre-headless", "maven")

#: protobuf's conformance runner (tests/conformance/test_official.py reads these paths).
PROTOBUF = ROOT / "build" / "tools" / "protobuf"
PROTOBUF_SOURCE = PROTOBUF / "src"
PROTOBUF_RUNNER = PROTOBUF / "bin" / "conformance_test_runner"
#: The upstream version whose runner the tests expect (Debian bookworm's).
PROTOBUF_VERSION = "3.21.12"
PROTOBUF_PACKAGES = ("libprotobuf-dev", "protobuf-compiler", "g++", "dpkg-dev")
#: What each package provides, to tell whether it is there.
PROTOBUF_PACKAGE_FILES = {
    "libprotobuf-dev": "/usr/include/google/protobuf/message.h",
    "protobuf-compiler": "/usr/bin/protoc",
    "g++": "/usr/bin/g++",
    "dpkg-dev": "/usr/bin/dpkg-source",
}
APT_SOURCES = Path("/etc/apt/sources.list.d")
DEB_SRC_FILE = APT_SOURCES / "bridge-src.sources"
#: The runner's sources (protobuf's conformance/), and the generated code it includes.
RUNNER_SOURCES = (
    "conformance_test.cc",
    "conformance_test_main.cc",
    "binary_json_conformance_suite.cc",
    "text_format_conformance_suite.cc",
    "conformance_test_runner.cc",
    "third_party/jsoncpp/jsoncpp.cpp",
)
TEST_PROTOS = (
    "google/protobuf/test_messages_proto2.proto",
    "google/protobuf/test_messages_proto3.proto",
)


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
    """grpcurl at build/tools/bin/grpcurl."""
    return _go_install("grpcurl", GRPCURL_PACKAGE, GRPCURL_VERSION, GRPCURL, timeout_s=600)


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


def _retry_later(failed: Path, what: str) -> bool:
    """True (and why said) while the last failure of `what` is less than a day old."""
    if failed.is_file() and time.time() - failed.stat().st_mtime < RETRY_AFTER_S:
        reason = failed.read_text().strip()
        say(f"{what}: not retried ({reason}); delete {failed} to retry now")
        return True
    return False


def _failed(failed: Path, what: str, reason: str) -> bool:
    failed.parent.mkdir(parents=True, exist_ok=True)
    failed.write_text(reason + "\n")
    say(f"{what} was not installed: {reason}; the tests that need it will skip")
    return False


def ensure_go_interop_client() -> bool:
    """grpc-go's interop client at build/tools/interop/go/bin/client."""
    binary = GO_INTEROP / "bin" / "client"
    what = "grpc-go's interop client"
    return _go_install(what, GO_INTEROP_PACKAGE, GO_INTEROP_VERSION, binary, timeout_s=900)


def _go_install(what: str, package: str, version: str, binary: Path, *, timeout_s: float) -> bool:
    """`go install package@version` with bridge's Go into binary's folder, unless that
    version is there (NAME.version beside the folder says) or failed less than a day ago
    (NAME.failed)."""
    stamp, failed = (binary.parent.parent / f"{binary.name}.{end}" for end in ("version", "failed"))
    installed = stamp.read_text().strip() if stamp.is_file() else None
    if binary.is_file() and installed == version:
        return True
    if _retry_later(failed, what):
        return False
    go = toolchain.find_go()
    if go is None:
        return _failed(failed, what, f"no Go to build it with ({toolchain.go_install_hint()})")
    say(f"building {what} {version} with {go.version} into {binary.parent.relative_to(ROOT)}")
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        GOBIN=str(binary.parent),
        GOTOOLCHAIN="local",  # build with this Go, never download another
        CGO_ENABLED="0",
        PATH=f"{go.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    argv = [str(go.path), "install", f"{package}@{version}"]
    error = run_quietly(argv, cwd=ROOT, env=env, timeout_s=timeout_s)
    if error is not None:
        return _failed(failed, what, error)
    stamp.write_text(version + "\n")
    failed.unlink(missing_ok=True)
    return True


def java_pom() -> str:
    """A pom of nothing but the interop client, for `mvn dependency:build-classpath`."""
    group, artifact, version = JAVA_INTEROP_ARTIFACT.split(":")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/install_test_clients.py: the classpath of gRPC's interop client. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>bridge.tests</groupId>
  <artifactId>interop-client</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def java_classpath_ok() -> bool:
    """Whether the classpath written last time is this version's and all its jars exist."""
    stamp, classpath = JAVA_INTEROP / "version", JAVA_INTEROP / "classpath.txt"
    if not (stamp.is_file() and classpath.is_file()):
        return False
    if stamp.read_text().strip() != JAVA_INTEROP_ARTIFACT:
        return False
    jars = classpath.read_text().strip().split(os.pathsep)
    return bool(jars) and all(Path(jar).is_file() for jar in jars)


def ensure_java_tools() -> str | None:
    """None when java and mvn are there (installed with apt if need be), else why not."""
    if shutil.which("java") and shutil.which("mvn"):
        return None
    if os.geteuid() != 0:
        sudo = f"sudo apt-get update && sudo apt-get install -y {' '.join(JAVA_PACKAGES)}"
        return f"java or mvn not found (to get them: {sudo})"
    say(f"installing Debian's {' and '.join(JAVA_PACKAGES)} with apt (grpc-java's interop client)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *JAVA_PACKAGES]
    for argv in (["apt-get", "update", "-qq"], install):
        error = run_quietly(argv, cwd=ROOT, env=env, timeout_s=900)
        if error is not None:
            return error
    if shutil.which("java") and shutil.which("mvn"):
        return None
    return "apt-get installed them, but java or mvn is still not on PATH"


def ensure_java_interop_client() -> bool:
    """grpc-java's interop client: its jars in ~/.m2, their classpath in classpath.txt."""
    if java_classpath_ok():
        return True
    what = "grpc-java's interop client"
    failed = JAVA_INTEROP / "failed"
    if _retry_later(failed, what):
        return False
    error = ensure_java_tools()
    if error is not None:
        return _failed(failed, what, error)
    mvn = shutil.which("mvn")
    assert mvn is not None
    say(f"resolving {JAVA_INTEROP_ARTIFACT} with Maven into {M2}")
    JAVA_INTEROP.mkdir(parents=True, exist_ok=True)
    (JAVA_INTEROP / "pom.xml").write_text(java_pom())
    classpath = JAVA_INTEROP / "classpath.txt"
    argv = [mvn, "-q", "-B", "dependency:build-classpath", f"-Dmdep.outputFile={classpath}"]
    error = run_quietly(argv, cwd=JAVA_INTEROP, env=dict(os.environ), timeout_s=900)
    if error is not None:
        return _failed(failed, what, error)
    (JAVA_INTEROP / "version").write_text(JAVA_INTEROP_ARTIFACT + "\n")
    if not java_classpath_ok():
        return _failed(failed, what, f"{classpath} names jars that are not there")
    failed.unlink(missing_ok=True)
    return True


def interop_jar() -> Path:
    group, artifact, version = JAVA_INTEROP_ARTIFACT.split(":")
    return M2.joinpath(*group.split("."), artifact, version, f"{artifact}-{version}.jar")


def ensure_interop_protos() -> bool:
    """The official test.proto, messages.proto and empty.proto, as the jar ships them."""
    if all((INTEROP_PROTO / name).is_file() for name in PROTO_FILES):
        return True
    jar = interop_jar()
    if not jar.is_file():
        say(f"{jar} is not there: the interop protos are missing, the interop tests will skip")
        return False
    with zipfile.ZipFile(jar) as archive:
        for name in PROTO_FILES:
            target = INTEROP_PROTO / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
    say(f"took {', '.join(PROTO_FILES)} from {jar.name} into {INTEROP_PROTO.relative_to(ROOT)}")
    return True


def has_deb_src(suite: str = "bookworm") -> bool:
    """Whether apt has a `deb-src` entry for `suite` (one-line or deb822 format)."""
    paths = [Path("/etc/apt/sources.list"), *sorted(APT_SOURCES.glob("*.list"))]
    for path in paths:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                words = line.split("#", 1)[0].split()
                if words[:1] == ["deb-src"] and suite in words:
                    return True
    for path in sorted(APT_SOURCES.glob("*.sources")):
        with contextlib.suppress(OSError):
            for stanza in path.read_text().split("\n\n"):
                fields: dict[str, list[str]] = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.startswith(("#", " ")):
                        key, value = line.split(":", 1)
                        fields[key.strip().lower()] = value.split()
                enabled = fields.get("enabled", ["yes"]) != ["no"]
                types, suites = fields.get("types", []), fields.get("suites", [])
                if enabled and "deb-src" in types and suite in suites:
                    return True
    return False


def deb_src_entry(suite: str = "bookworm") -> str:
    """A deb822 `deb-src` entry for `suite`, with the mirror and key debian.sources uses."""
    uri, keyring = "http://deb.debian.org/debian", "/usr/share/keyrings/debian-archive-keyring.gpg"
    with contextlib.suppress(OSError):  # its first entry is the main archive's
        first = (APT_SOURCES / "debian.sources").read_text().split("\n\n")[0]
        for line in first.splitlines():
            key, _, value = line.partition(":")
            if key == "URIs" and value.split():
                uri = value.split()[0]
            elif key == "Signed-By" and value.strip():
                keyring = value.strip()
    return (
        "# Written by bridge's scripts/install_test_clients.py: `apt-get source protobuf`.\n"
        f"Types: deb-src\nURIs: {uri}\nSuites: {suite}\nComponents: main\n"
        f"Signed-By: {keyring}\n"
    )


def apt_install(packages: Sequence[str], why: str) -> str | None:
    """Install Debian packages with apt (root only); None, or why not."""
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    if os.geteuid() != 0:
        return f"{', '.join(packages)} missing (to get them: sudo {' '.join(command)})"
    say(f"installing Debian's {', '.join(packages)} with apt ({why})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-qq"], command):
        error = run_quietly(argv, cwd=ROOT, env=env, timeout_s=900)
        if error is not None:
            return error
    return None


def fetch_protobuf_source() -> str | None:
    """Debian's protobuf source package, unpacked into build/tools/protobuf/src."""
    if not has_deb_src():
        if os.geteuid() != 0:
            return (
                f"no bookworm deb-src entry for `apt-get source protobuf` (as root, write "
                f"{DEB_SRC_FILE} with:\n{deb_src_entry()}and run apt-get update)"
            )
        say(f"adding a bookworm deb-src entry to apt: {DEB_SRC_FILE}")
        DEB_SRC_FILE.write_text(deb_src_entry())
        error = run_quietly(
            ["apt-get", "update", "-qq"], cwd=ROOT, env=dict(os.environ), timeout_s=900
        )
        if error is not None:
            return error
    download = PROTOBUF / "download"
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir(parents=True)
    where = PROTOBUF_SOURCE.relative_to(ROOT)
    say(f"fetching Debian's protobuf {PROTOBUF_VERSION} source into {where}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    argv = ["apt-get", "source", "-qq", "protobuf"]
    error = run_quietly(argv, cwd=download, env=env, timeout_s=900)
    if error is None:
        unpacked = download / f"protobuf-{PROTOBUF_VERSION}"
        if unpacked.is_dir():
            shutil.rmtree(PROTOBUF_SOURCE, ignore_errors=True)
            unpacked.rename(PROTOBUF_SOURCE)
        else:
            found = ", ".join(sorted(p.name for p in download.iterdir() if p.is_dir())) or "nothing"
            error = f"`apt-get source protobuf` unpacked {found}, not protobuf-{PROTOBUF_VERSION}"
    shutil.rmtree(download, ignore_errors=True)
    return error


def build_conformance_runner() -> str | None:
    """protobuf's conformance_test_runner, built against Debian's libprotobuf; None, or
    why not. protobuf's internal headers the runner includes come from the source, after
    the system's (`-idirafter`), so the library and the headers it was built with win."""
    source = PROTOBUF_SOURCE
    work = PROTOBUF / "obj"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    where = PROTOBUF_RUNNER.parent.relative_to(ROOT)
    say(f"building protobuf's conformance_test_runner into {where}")
    env = dict(os.environ)
    conformance = source / "conformance"
    protoc = [
        ["protoc", f"--cpp_out={work}", f"-I{conformance}", str(conformance / "conformance.proto")],
        ["protoc", f"--cpp_out={work}", f"-I{source / 'src'}", *TEST_PROTOS],
    ]
    for argv in protoc:
        error = run_quietly(argv, cwd=work, env=env, timeout_s=300)
        if error is not None:
            return error
    units = [conformance / name for name in RUNNER_SOURCES]
    units += [work / "conformance.pb.cc"]
    units += [work / name.replace(".proto", ".pb.cc") for name in TEST_PROTOS]
    flags = [
        "-std=c++14",
        "-O1",
        "-w",
        f"-I{work}",
        f"-I{conformance}",
        "-idirafter",
        str(source / "src"),
    ]
    objects = [work / f"{unit.name}.o" for unit in units]
    jobs = max(1, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        compiled = pool.map(
            lambda pair: run_quietly(
                ["g++", *flags, "-c", str(pair[0]), "-o", str(pair[1])],
                cwd=work,
                env=env,
                timeout_s=900,
            ),
            zip(units, objects, strict=True),
        )
        errors = [e for e in compiled if e is not None]
    if errors:
        return errors[0]
    PROTOBUF_RUNNER.parent.mkdir(parents=True, exist_ok=True)
    link = ["g++", "-o", str(PROTOBUF_RUNNER), *map(str, objects), "-lprotobuf", "-lpthread"]
    error = run_quietly(link, cwd=work, env=env, timeout_s=300)
    if error is None:
        shutil.rmtree(work, ignore_errors=True)
    return error


def ensure_protobuf_conformance() -> bool:
    """protobuf's source at build/tools/protobuf/src and its conformance runner."""
    stamp, failed = PROTOBUF / "version", PROTOBUF / "failed"
    marker = PROTOBUF_SOURCE / "src" / TEST_PROTOS[1]
    installed = stamp.read_text().strip() if stamp.is_file() else None
    if marker.is_file() and PROTOBUF_RUNNER.is_file() and installed == PROTOBUF_VERSION:
        return True
    what = "protobuf's conformance runner"
    if _retry_later(failed, what):
        return False
    missing = [p for p in PROTOBUF_PACKAGES if not Path(PROTOBUF_PACKAGE_FILES[p]).exists()]
    error = apt_install(missing, "protobuf's conformance runner") if missing else None
    if error is None and not (marker.is_file() and installed == PROTOBUF_VERSION):
        PROTOBUF_RUNNER.unlink(missing_ok=True)
        error = fetch_protobuf_source()
    if error is None:
        error = build_conformance_runner()
    if error is not None:
        failed.parent.mkdir(parents=True, exist_ok=True)
        failed.write_text(error + "\n")
        say(f"{what} was not installed: {error}; tests/conformance/test_official.py will skip")
        return False
    stamp.write_text(PROTOBUF_VERSION + "\n")
    failed.unlink(missing_ok=True)
    return True


def main() -> int:
    started = time.monotonic()
    node = ensure_node_client()
    grpcurl = ensure_grpcurl()
    chromium = ensure_chromium()
    go_interop = ensure_go_interop_client()
    java_interop = ensure_java_interop_client()
    protos = ensure_interop_protos()
    conformance = ensure_protobuf_conformance()
    elapsed = time.monotonic() - started
    ready = all((node, grpcurl, chromium, go_interop, java_interop, protos, conformance))
    if ready and elapsed > 1:
        say(f"test clients ready in {elapsed:.1f} s")
    return 0  # the tests skip, with the reason, what is missing


if __name__ == "__main__":
    sys.exit(main())
