"""The `where` syntax, and its key in configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.testing.domains import Domain, parse_domain, parse_where


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0..1000", Domain("range", "0..1000", low="0", high="1000")),
        ("-5..", Domain("range", "-5..", low="-5")),
        ("..2.5", Domain("range", "..2.5", high="2.5")),
        ("1_000..1e6", Domain("range", "1_000..1e6", low="1_000", high="1e6")),
        (
            "/[A-Z]{3}-[0-9]{1,4}/",
            Domain("regex", "/[A-Z]{3}-[0-9]{1,4}/", pattern="[A-Z]{3}-[0-9]{1,4}"),
        ),
        ("EUR|USD", Domain("choice", "EUR|USD", choices=("EUR", "USD"))),
        ("EUR", Domain("choice", "EUR", choices=("EUR",))),
    ],
)
def test_domains_parse(text: str, expected: Domain) -> None:
    assert parse_domain(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("..", "at least one end"),
        ("9..1", "is empty"),
        ("/[a-/", "not a regular expression"),
        ("EUR||USD", "is not a domain"),
        ("", "is not a domain"),
    ],
)
def test_bad_domains_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_domain(text)


def test_where_items_name_a_field_path() -> None:
    assert parse_where("customer.country=DE|FR") == (
        "customer.country",
        Domain("choice", "DE|FR", choices=("DE", "FR")),
    )
    with pytest.raises(ValueError, match="write FIELD=DOMAIN"):
        parse_where("0..1000")
    with pytest.raises(ValueError, match="not a field name"):
        parse_where("rate-permille=0..1")


def _config(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "bridge.toml"
    path.write_text(f'[routes."shop.v1.Pricing/Vat".diff]\n{table}\n')
    return path


def test_configuration_holds_the_routes_domains(tmp_path: Path) -> None:
    path = _config(tmp_path, 'where = {rate_permille = "0..1000", "a.b" = "x|y"}')
    where = dict(load_config(path).route("shop.v1.Pricing/Vat").diff.where)
    assert where == {"rate_permille": parse_domain("0..1000"), "a.b": parse_domain("x|y")}
    assert load_config(path).route("shop.v1.Pricing/LineTotal").diff.where == ()


@pytest.mark.parametrize(
    ("table", "key", "reason"),
    [
        ('where = {rate_permille = "9..1"}', "diff.where.rate_permille", "is empty"),
        ("where = {rate_permille = 5}", "diff.where.rate_permille", "must be a domain string"),
        ('wher = {rate_permille = "0..1"}', "diff.wher", "did you mean where?"),
        ('where = "0..1"', "diff.where", "must be a table"),
        ('where = {"rate-permille" = "0..1"}', "diff.where.rate-permille", "not a field name"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path: Path, table: str, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_config(tmp_path, table))
    message = str(raised.value)
    assert f'routes."shop.v1.Pricing/Vat".{key}' in message and reason in message, message
