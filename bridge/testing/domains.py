"""The `where` syntax: a field's domain, for functions with preconditions.

One text per field, the same on the command line (`--where rate_permille=0..1000`) and
in configuration (`[tool.bridge.routes."M".diff] where = {rate_permille = "0..1000"}`):

    LOW..HIGH     a number range, both ends included; either end may be left out
    /REGEX/       strings (or bytes) the regular expression matches in full
    A|B|C         one of these values (one value alone is a constant)

Parsing needs no Hypothesis (configuration is checked with it); strategies.py turns a
Domain into values of the field's own type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Domain", "parse_domain", "parse_where"]

_NUMBER = r"[-+]?(?:\d[\d_]*)(?:\.\d+)?(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*(?P<low>{_NUMBER})?\s*\.\.\s*(?P<high>{_NUMBER})?\s*$")


@dataclass(frozen=True, slots=True)
class Domain:
    """The values a field may take: a range, a pattern, or a few choices.

    >>> parse_domain("0..1000")
    Domain(kind='range', text='0..1000', low='0', high='1000', pattern='', choices=())
    >>> parse_domain("EUR|USD").choices
    ('EUR', 'USD')
    """

    kind: Literal["range", "regex", "choice"]
    text: str
    #: The range's ends as written (the field's type says int or float), None if open.
    low: str | None = None
    high: str | None = None
    pattern: str = ""
    choices: tuple[str, ...] = ()


def parse_domain(text: str) -> Domain:
    """The Domain `text` describes; ValueError says what is wrong with it."""
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        pattern = text[1:-1]
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"/{pattern}/ is not a regular expression: {exc}") from None
        return Domain("regex", text, pattern=pattern)
    match = _RANGE.match(text)
    if match:
        low, high = match["low"], match["high"]
        if low is None and high is None:
            raise ValueError("a range needs at least one end, as in 0..1000 or 1..")
        if low is not None and high is not None and float(low) > float(high):
            raise ValueError(f"the range {text} is empty: {low} > {high}")
        return Domain("range", text, low=low, high=high)
    choices = tuple(item.strip() for item in text.split("|"))
    if not text.strip() or any(not item for item in choices):
        raise ValueError(f"{text!r} is not a domain: write LOW..HIGH, /REGEX/ or VALUE|VALUE|...")
    return Domain("choice", text, choices=choices)


def parse_where(item: str) -> tuple[str, Domain]:
    """`FIELD=DOMAIN` (a dotted path for a nested field) as (path, Domain).

    >>> parse_where("customer.country=DE|FR")[0]
    'customer.country'
    """
    path, sep, text = item.partition("=")
    path = path.strip()
    if not sep or not path:
        raise ValueError(f"{item!r}: write FIELD=DOMAIN, as in rate_permille=0..1000")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", path):
        raise ValueError(f"{item!r}: {path!r} is not a field name or dotted path")
    return path, parse_domain(text)
