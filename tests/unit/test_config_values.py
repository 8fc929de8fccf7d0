"""Every numeric setting refuses inf, nan, negative and huge values with a ConfigError that
names the key: from the environment, from [tool.bridge.runtime], from the route tables,
and in code. Nothing else (OverflowError, a ctypes error, an endless wait) gets through."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from bridge.config import (
    BridgeConfig,
    RouteConfig,
    RuntimeConfig,
    ShadowConfig,
    SidecarConfig,
    load_config,
)
from bridge.errors import ConfigError

#: Every numeric field of RuntimeConfig, and the variable that sets it, if one does.
RUNTIME_KEYS = {
    "pool_size": "BRIDGE_POOL_SIZE",
    "pool_min_idle": None,
    "pool_wait_s": "BRIDGE_POOL_WAIT_S",
    "call_timeout_s": "BRIDGE_CALL_TIMEOUT_S",
    "memory_limit_bytes": "BRIDGE_MEMORY_LIMIT_MB",
    "fuel": "BRIDGE_FUEL",
    "max_message_bytes": None,
    "max_module_bytes": "BRIDGE_MAX_MODULE_MB",
}
# TOML spellings of the bad values (`inf` and `nan` are TOML floats; 1e400 parses as inf).
TOML_BAD = ["inf", "-inf", "nan", "-1", "1e400", "1e300", "10000000000000000000000", "-0.5"]
ENV_BAD = ["inf", "-inf", "nan", "-1", "0", "1e300", "1" + "0" * 30, "NaN", " infinity "]
CODE_BAD: list[object] = [
    float("inf"), float("-inf"), float("nan"), -1, 1e300, 10**30, True, "8",
]  # fmt: skip
# A zero is refused by every key but pool_min_idle (no instance kept ready).
ZERO_OK = {"pool_min_idle"}


def _numeric_fields(cls: type) -> set[str]:
    hints = typing.get_type_hints(cls)
    numeric = {int, float, int | None, float | None}
    return {f.name for f in dataclasses.fields(cls) if hints[f.name] in numeric}


def test_every_numeric_runtime_setting_is_covered() -> None:
    assert _numeric_fields(RuntimeConfig) == set(RUNTIME_KEYS)


def _assert_names(raised: pytest.ExceptionInfo[ConfigError], *names: str) -> None:
    message = str(raised.value)
    assert "\n" not in message
    for name in names:
        assert name in message, (name, message)


@pytest.mark.parametrize("key", RUNTIME_KEYS)
@pytest.mark.parametrize("value", [*TOML_BAD, "0"])
def test_bad_runtime_value_in_toml(tmp_path: Path, key: str, value: str) -> None:
    if value == "0" and key in ZERO_OK:
        return
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[tool.bridge.runtime]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    _assert_names(raised, str(path), f"tool.bridge.runtime.{key}:")


@pytest.mark.parametrize("key", [k for k, v in RUNTIME_KEYS.items() if v is not None])
@pytest.mark.parametrize("value", ENV_BAD)
def test_bad_runtime_value_in_the_environment(tmp_path: Path, key: str, value: str) -> None:
    variable = RUNTIME_KEYS[key]
    assert variable is not None
    with pytest.raises(ConfigError) as raised:
        RuntimeConfig.from_env({variable: value})
    _assert_names(raised, f"{variable}=")
    # and the same through the configuration loader
    with pytest.raises(ConfigError) as raised:
        load_config(environ={variable: value}, start=tmp_path)
    _assert_names(raised, f"{variable}=")


@pytest.mark.parametrize("key", RUNTIME_KEYS)
@pytest.mark.parametrize("value", CODE_BAD, ids=repr)
def test_bad_runtime_value_in_code(key: str, value: object) -> None:
    with pytest.raises(ConfigError) as raised:
        RuntimeConfig(**{key: value})  # type: ignore[arg-type]
    _assert_names(raised, f"{key}:")


def test_the_largest_values_are_accepted() -> None:
    config = RuntimeConfig.from_env(
        {
            "BRIDGE_POOL_SIZE": "1024",
            "BRIDGE_POOL_WAIT_S": "86400",
            "BRIDGE_CALL_TIMEOUT_S": "86400",
            "BRIDGE_MEMORY_LIMIT_MB": "4096",
            "BRIDGE_FUEL": str((1 << 63) - 1),
        }
    )
    assert config.memory_limit_bytes == 4 << 30
    with pytest.raises(
        ConfigError, match="^BRIDGE_MEMORY_LIMIT_MB='4097': must be at most 4_096, not 4097$"
    ):
        RuntimeConfig.from_env({"BRIDGE_MEMORY_LIMIT_MB": "4097"})
    with pytest.raises(ConfigError, match="memory_limit_bytes: must be a whole number"):
        RuntimeConfig(memory_limit_bytes=2.5)  # type: ignore[arg-type]


def test_pool_min_idle_over_pool_size_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "bridge.toml"
    path.write_text("[runtime]\npool_size = 2\npool_min_idle = 3\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    _assert_names(raised, "runtime.pool_min_idle: must be between 0 and pool_size (2)")


QUOTE = 'routes."shop.v1.Pricing/Quote"'
# Every other numeric key of a configuration file: the route timeouts among them.
FILE_KEYS = {
    "defaults.timeout_s": "[defaults]\ntimeout_s = {}\n",
    f"{QUOTE}.timeout_s": f"[{QUOTE}]\ntimeout_s = {{}}\n",
    "defaults.shadow.timeout_s": "[defaults.shadow]\ntimeout_s = {}\n",
    f"{QUOTE}.shadow.timeout_s": f"[{QUOTE}.shadow]\ntimeout_s = {{}}\n",
    "defaults.shadow.sample_percent": "[defaults.shadow]\nsample_percent = {}\n",
    "defaults.shadow.float_abs_tolerance": "[defaults.shadow]\nfloat_abs_tolerance = {}\n",
    "defaults.shadow.float_rel_tolerance": "[defaults.shadow]\nfloat_rel_tolerance = {}\n",
    "defaults.shadow.queue_size": "[defaults.shadow]\nqueue_size = {}\n",
    "sidecar.timeout_s": "[sidecar]\ntimeout_s = {}\n",
    "sidecar.workers": "[sidecar]\nworkers = {}\n",
    "sidecar.processes": "[sidecar]\nprocesses = {}\n",
    "report_interval_s": "report_interval_s = {}\n",
}
ZERO_OK_IN_FILE = {
    "defaults.shadow.sample_percent",
    "defaults.shadow.float_abs_tolerance",
    "defaults.shadow.float_rel_tolerance",
}


@pytest.mark.parametrize("key", FILE_KEYS)
@pytest.mark.parametrize("value", [*TOML_BAD, "0"])
def test_bad_route_sidecar_and_report_values(tmp_path: Path, key: str, value: str) -> None:
    if value == "0" and key in ZERO_OK_IN_FILE:
        return
    if key.endswith("tolerance") and value in ("1e300", "10000000000000000000000"):
        return  # a huge tolerance is a legal (if lax) comparison
    path = tmp_path / "bridge.toml"
    path.write_text(FILE_KEYS[key].format(value))
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    _assert_names(raised, str(path), f"{key}:")


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda v: RouteConfig(timeout_s=v), "timeout_s"),
        (lambda v: ShadowConfig(timeout_s=v), "timeout_s"),
        (lambda v: ShadowConfig(queue_size=v), "queue_size"),
        (lambda v: SidecarConfig(timeout_s=v), "timeout_s"),
        (lambda v: SidecarConfig(workers=v), "workers"),
        (lambda v: SidecarConfig(processes=v), "processes"),
        (lambda v: BridgeConfig(report_interval_s=v), "report_interval_s"),
    ],
)
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0, 1e300, 10**30], ids=repr)
def test_bad_values_in_code_for_routes_and_sidecars(
    make: typing.Callable[[object], object], key: str, value: object
) -> None:
    with pytest.raises(ConfigError) as raised:
        make(value)
    _assert_names(raised, f"{key}:")
