"""protobuf's official conformance suite (conformance_test_runner, protobuf 3.21.12) against
Go and Rust guests that bridge's codegen built from protobuf's unmodified
test_messages_proto3.proto and test_messages_proto2.proto (tests/conformance/testee.py).

The runner runs with --enforce_recommended and an empty failure list: every binary test
(protobuf in, protobuf out; proto3 and proto2) must pass, the "Recommended" ones too. The
testee answers JSON and text-format tests `skipped`, and only those may be skipped.

scripts/install_test_clients.py unpacks the source (BRIDGE_PROTOBUF_SOURCE, which
scripts/test exports) and builds the runner into build/tools/protobuf/bin; the tests skip,
with the reason, without them.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .conftest import OfficialGuest, runner_or_skip, source_or_skip
from .testee import PROTOS

TESTEE = Path(__file__).with_name("testee")
#: The binary tests of protobuf 3.21.12's suites (proto3 and proto2, Required and
#: Recommended), as a conforming testee (Python's protobuf) passes them: 1302 in the
#: binary/JSON suite, none in the text-format one.
BINARY_TESTS = 1302
#: The runner's last line for each suite.
SUITE_LINE = re.compile(
    r"CONFORMANCE SUITE (PASSED|FAILED): (\d+) successes, (\d+) skipped, "
    r"(\d+) expected failures, (\d+) unexpected failures\."
)
SKIPPED_LINE = re.compile(r"^SKIPPED, test=(\S+) request=(.*)$", re.MULTILINE)
ERROR_LINE = re.compile(r"^ERROR, test=([^:\s]+)", re.MULTILINE)
#: A request that is not binary in and out: a JSON or text-format payload or output.
NOT_BINARY = re.compile(
    r"(json_payload|text_payload|jspb_payload|requested_output_format: (JSON|TEXT_FORMAT|JSPB))"
)


@dataclass(frozen=True)
class Suite:
    passed: bool
    successes: int
    skipped: int
    expected_failures: int
    unexpected_failures: int


def run_runner(runner: Path, wasm: Path, out: Path) -> str:
    """The runner's report (stderr) on the guest, verbose: every test by name."""
    argv = [str(runner), "--enforce_recommended", "--verbose", str(TESTEE), str(wasm)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    (out / "runner.log").write_text(done.stderr, encoding="utf-8")
    return done.stderr


def suites(report: str) -> list[Suite]:
    return [
        Suite(m[1] == "PASSED", int(m[2]), int(m[3]), int(m[4]), int(m[5]))
        for m in SUITE_LINE.finditer(report)
    ]


def test_the_protobuf_test_schemas_are_there() -> None:
    source = source_or_skip()
    for name in PROTOS:
        assert (source / "src" / name).is_file(), name


def test_official_conformance_suite_passes(official_guest: OfficialGuest, tmp_path: Path) -> None:
    report = run_runner(runner_or_skip(), official_guest.wasm, tmp_path)
    failing = sorted(set(ERROR_LINE.findall(report)))
    found = suites(report)
    # The runner stops at the first suite that fails: both ran, and passed.
    assert found, report[-3000:]
    summary = "\n".join(line for line in report.splitlines() if "CONFORMANCE SUITE" in line)
    assert not failing, (
        f"{len(failing)} failing tests:\n" + "\n".join(failing[:60]) + f"\n{summary}"
    )
    assert len(found) == 2, summary
    assert all(s.passed and s.unexpected_failures == 0 for s in found), summary
    assert all(s.expected_failures == 0 for s in found), summary  # the failure list is empty
    # Every test skipped is a JSON or text-format one; every binary one succeeded.
    skipped = SKIPPED_LINE.findall(report)
    assert len({name for name, _ in skipped}) == sum(s.skipped for s in found)
    binary_skipped = [name for name, request in skipped if not NOT_BINARY.search(request)]
    assert not binary_skipped, binary_skipped[:20]
    assert sum(s.successes for s in found) >= BINARY_TESTS, summary
