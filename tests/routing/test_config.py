"""[tool.bridge] / bridge.toml and BRIDGE_* variables: what they set, and bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import Mode, env_key, find_config, load_config
from bridge.errors import ConfigError

QUOTE = "shop.v1.Pricing/Quote"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_pyproject_table(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "pricing.wasm").write_bytes(b"")
    write(
        tmp_path / "pyproject.toml",
        """
[project]
name = "shop"

[tool.bridge]
report_dir = "var/report"

[tool.bridge.runtime]
pool_size = 2
call_timeout_s = 0.5

[tool.bridge.services]
"shop.v1.Pricing" = "build/pricing.wasm"

[tool.bridge.defaults]
fallback = true

[tool.bridge.routes."shop.v1.Pricing/Quote"]
mode = "shadow"
shadow = { inline = true, float_abs_tolerance = 0.01, ignore_fields = ["note"] }
""",
    )
    config = load_config(start=tmp_path / "src" / "shop", environ={})
    assert config.source == tmp_path / "pyproject.toml"
    assert config.runtime.pool_size == 2 and config.runtime.call_timeout_s == 0.5
    assert config.module_for(QUOTE) == tmp_path / "build" / "pricing.wasm"
    assert config.report_dir == tmp_path / "var" / "report"
    route = config.route(QUOTE)
    assert route.mode == Mode("shadow") and route.fallback  # the defaults' fallback
    assert route.shadow.inline and route.shadow.float_abs_tolerance == 0.01
    assert route.shadow.ignore_fields == ("note",)
    assert config.route("shop.v1.Pricing/Other").mode == Mode("python")


def test_bridge_toml_wins_and_the_environment_wins_over_it(tmp_path: Path) -> None:
    write(tmp_path / "bridge.toml", '[routes."shop.v1.Pricing/Quote"]\nmode = "python"\n')
    write(tmp_path / "pyproject.toml", "[tool.bridge]\ntracing = true\n")
    env = {"BRIDGE_MODE": "canary:5", "BRIDGE_MODE_SHOP_V1_PRICING_QUOTE": "python"}
    config = load_config(start=tmp_path, environ=env)
    assert config.source == tmp_path / "bridge.toml"
    assert config.report_dir == tmp_path / ".bridge" / "report"
    assert config.route(QUOTE).mode == Mode("python")  # its own variable beats BRIDGE_MODE
    assert config.route("shop.v1.Pricing/Other").mode == Mode("canary", 5)
    assert load_config(start=tmp_path, environ={"BRIDGE_FALLBACK": "1"}).route(QUOTE).fallback
    assert env_key("shop.v1.Pricing/Quote") == "SHOP_V1_PRICING_QUOTE"


def test_runtime_environment_beats_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "bridge.toml", "[runtime]\npool_size = 3\nfuel = 1000\n")
    config = load_config(path, environ={"BRIDGE_POOL_SIZE": "5"})
    assert config.runtime.pool_size == 5 and config.runtime.fuel == 1000


def test_search_stops_at_the_project_root(tmp_path: Path) -> None:
    write(tmp_path / "bridge.toml", "")
    write(tmp_path / "app" / "pyproject.toml", "[project]\nname = 'app'\n")
    assert find_config(tmp_path / "app" / "pkg") is None
    assert find_config(tmp_path / "other") == tmp_path / "bridge.toml"
    assert load_config(start=tmp_path / "app", environ={}).source is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[routes."shop.v1.Pricing/Quote"]\nmode = "wsam"\n',
         """routes."shop.v1.Pricing/Quote".mode: 'wsam' is not a mode"""),
        ('[routes."shop.v1.Pricing/Quote"]\nmode = "canary:150"\n', "between 0 and 100"),
        ('[routes."shop.v1.Pricing/Quote"]\nmode = "wasm"\n',
         'needs a module for shop.v1.Pricing/Quote: add "shop.v1.Pricing" = '),
        ('[services]\n"shop.v1.Pricing" = "missing.wasm"\n[routes."shop.v1.Pricing/Quote"]\n'
         'mode = "wasm"\n', "missing.wasm, which does not exist (bridge build makes it)"),
        ('[routes."shop.v1.Pricing/Quote"]\nmode = "sidecar"\n',
         "managed = true (start one) in [sidecar]"),
        ('[routes."shop.v1.Pricing/Quote"]\nfalback = true\n',
         "falback: unknown key; did you mean fallback?"),
        ('[routes."Quote"]\nmode = "python"\n', "keys are full method names"),
        ('[routes."shop.v1.Pricing/Quote"]\nfallback = "yes"\n', "fallback: must be a boolean"),
        ('[routes."shop.v1.Pricing/Quote"]\ntimeout_s = 0\n', "timeout_s: must be positive"),
        ('[routes."shop.v1.Pricing/Quote".shadow]\nsample_percent = 101\n', "between 0 and 100"),
        ("[runtime]\npool_size = 0\n", "runtime.pool_size: must be positive, not 0"),
        ("[runtime]\npool_sise = 2\n", "runtime.pool_sise: unknown key; did you mean pool_size?"),
        ('[services]\n"Pricing" = "a.wasm"\n', "keys are full service names"),
        ("routes = 3\n", "routes: must be a table"),
        ('[sidecar]\nmanaged = "yes"\n', "sidecar.managed: must be a boolean"),
        ("[sidecar]\nworkers = 2.5\n", "sidecar.workers: must be a whole number, not 2.5"),
        ("[sidecar]\nworkers = true\n", "sidecar.workers: must be a whole number, not True"),
        ("[sidecar]\nworkers = 0\n", "sidecar.workers: must be positive, not 0"),
        ('[sidecar]\ntarget = "unix:/s.sock"\nmanaged = true\n',
         "sidecar.managed: cannot be true together with sidecar.target: choose one"),
        ("[routes\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_invalid_configuration_names_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path / "bridge.toml", text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    message = str(raised.value)
    assert fragment in message and "\n" not in message
    assert message.startswith(str(path))


def test_invalid_environment_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BRIDGE_MODE_SHOP_V1_PRICING_QUOTE: 'fast' is not"):
        load_config(start=tmp_path, environ={"BRIDGE_MODE_SHOP_V1_PRICING_QUOTE": "fast"})
    with pytest.raises(ConfigError, match=r"BRIDGE_FALLBACK='maybe': use 1 or 0"):
        load_config(start=tmp_path, environ={"BRIDGE_FALLBACK": "maybe"})
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(environ={"BRIDGE_CONFIG": str(tmp_path / "nope.toml")})


def test_a_route_shadow_table_keeps_the_defaults_it_leaves_out(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bridge.toml",
        '[defaults.shadow]\nstrict = true\nignore_fields = ["note"]\n'
        '[routes."shop.v1.Pricing/Quote".shadow]\nsample_percent = 50\n',
    )
    shadow = load_config(path, environ={}).route(QUOTE).shadow
    assert (shadow.strict, shadow.ignore_fields, shadow.sample_percent) == (True, ("note",), 50)
    relaxed = load_config(path, environ={"BRIDGE_SHADOW_STRICT": "0"}).route(QUOTE).shadow
    assert not relaxed.strict


def test_a_managed_sidecar_and_its_workers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[tool.bridge.services]\n"shop.v1.Pricing" = "build/pricing.wasm"\n'
        "[tool.bridge.sidecar]\nmanaged = true\nworkers = 2\n"
        '[tool.bridge.routes."shop.v1.Pricing/Quote"]\nmode = "sidecar"\n',
    )
    sidecar = load_config(path, environ={}).sidecar
    assert (sidecar.target, sidecar.managed, sidecar.workers) == (None, True, 2)
    # BRIDGE_SIDECAR names a sidecar that runs: it wins, and none is started
    sidecar = load_config(path, environ={"BRIDGE_SIDECAR": "unix:/run/shop.sock"}).sidecar
    assert (sidecar.target, sidecar.managed) == ("unix:/run/shop.sock", False)
    bare = write(tmp_path / "bridge.toml", "[sidecar]\nmanaged = true\n")
    assert load_config(bare, environ={}).sidecar.workers == 4


def test_a_sidecar_target_and_managed_name_both_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[tool.bridge.sidecar]\ntarget = "localhost:50051"\nmanaged = true\n',
    )
    # the file contradicts itself, whatever the environment says
    for environ in ({}, {"BRIDGE_SIDECAR": "localhost:50052"}):
        with pytest.raises(ConfigError) as raised:
            load_config(path, environ=environ)
        assert str(raised.value).startswith(
            f"{path}: tool.bridge.sidecar.managed: cannot be true together with "
            "tool.bridge.sidecar.target: choose one"
        )
