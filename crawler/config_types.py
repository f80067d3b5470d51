"""The building blocks of the config's models, shared by ``crawler.config`` and
``crawler.destinations``: strict models, http(s) URLs, intervals, and ``${VAR}``."""

from __future__ import annotations

import os
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

from crawler.dates import parse_interval


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


HttpUrl = Annotated[str, AfterValidator(_check_http)]
Interval = Annotated[str, AfterValidator(_check_interval)]

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
