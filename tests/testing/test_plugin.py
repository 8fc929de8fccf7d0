"""The pytest plugin, as a user's suite gets it from the installed package (the
`pytest11` entry point): the bridge_diff marker and fixture, on a tiny project routed to
the textcase port."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.testing.conftest import text_project

pytest_plugins = ["pytester"]

SUITE = """
import pytest


@pytest.mark.bridge_diff("textapp:upper", where={"text": "/[a-z ]{0,8}/"}, examples=200, seed=1)
def test_ascii_agrees():
    pass


@pytest.mark.bridge_diff("textapp:upper", seed=1)
def test_marker_finds_unicode():
    pass


def test_fixture_finds_unicode(bridge_diff):
    bridge_diff("textapp:upper", seed=1)
"""


def test_the_marker_and_fixture_fail_with_the_shrunk_example(
    pytester: pytest.Pytester,
    textcase_wasm: Path,
    textcase_stubs: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text_project(pytester.path, textcase_wasm, textcase_stubs)
    pytester.makepyfile(test_ports=SUITE)
    monkeypatch.setenv("BRIDGE_REPORT_DIR", "off")
    ran = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    ran.assert_outcomes(passed=1, failed=2)
    output = ran.stdout.str()
    for name in ("test_marker_finds_unicode", "test_fixture_finds_unicode"):
        section = output[output.index(f"_ {name} _") :]
        # To the next test's header, or to the summary (which, under CI=true, pytest
        # does not cut short: it repeats the whole message).
        section = re.split(r"\n[_=]", section[1:], maxsplit=1)[0]
        assert "textcase.v1.Text/Upper: value" in section, section
        (request,) = [line for line in section.splitlines() if "request " in line]
        text = request.split('"text": "', 1)[1].split('"', 1)[0]
        assert 1 <= len(text) <= 2 and not text.isascii(), request
        assert "  python   " in section and "  port     " in section, section
        assert "plugin.py" not in section, section  # the message, not the plugin's frames
