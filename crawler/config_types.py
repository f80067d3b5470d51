"""The building blocks of the config's models, shared by ``crawler.config`` and
``crawler.destinations``: strict models, http(s) URLs, host names, CSS selectors, intervals,
and ``${VAR}``."""

from __future__ import annotations

import os
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

from crawler.dates import parse_interval, parse_window


class Strict(BaseModel):
    # strict: "no" is not a boolean and "30" is not a number; TOML has real types.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _check_http(url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"{url!r} is not an http(s) URL")
    return url


def _check_interval(value: str) -> str:
    parse_interval(value)
    return value


def _check_window(value: str) -> str:
    parse_window(value)
    return value


HttpUrl = Annotated[str, AfterValidator(_check_http)]
Interval = Annotated[str, AfterValidator(_check_interval)]
Window = Annotated[str, AfterValidator(_check_window)]  # an interval, or "0": off

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingVariable(Exception):
    """A ``${NAME}`` in the config names an unset environment variable."""

    def __init__(self, name: str, loc: tuple[int | str, ...]) -> None:
        super().__init__(name)
        self.name = name
        self.loc = loc


def expand_env(value: Any, loc: tuple[int | str, ...] = ()) -> Any:
    """``value`` (the parsed TOML) with every ``${NAME}`` in its strings taken from the
    environment; an unset one raises :class:`MissingVariable` with where it was."""
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise MissingVariable(name, loc)
            return os.environ[name]

        return _VARIABLE.sub(lookup, value)
    if isinstance(value, dict):
        return {key: expand_env(item, (*loc, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_env(item, (*loc, index)) for index, item in enumerate(value)]
    return value


def _check_css(value: str) -> str:
    from cssselect import SelectorError
    from lxml.cssselect import CSSSelector

    try:
        CSSSelector(value)
    except SelectorError as exc:
        raise ValueError(f"{value!r} is not a CSS selector: {exc}") from None
    return value


CssSelector = Annotated[str, AfterValidator(_check_css)]


_HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*$")


def _check_host(value: str) -> str:
    import ipaddress

    host = value.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host.strip("[]")))  # an address is a host too
    except ValueError:
        pass
    try:  # a domain in any script, as links carry it (xn--...)
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        host = ""
    if len(host) > 253 or not _HOST_NAME.match(host):
        raise ValueError(
            f"{value!r} is not a bare host name like 'bbc.com' (no scheme, port, path or *)"
        )
    return host


HostName = Annotated[str, AfterValidator(_check_host)]
