"""What every command shares: the config (read once, when first needed) and the one-line
errors with exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

import click

from crawler.config import Config, ConfigError, load_config, resolve_config_path
from crawler.dates import parse_moment
from crawler.reactor import StoppedAtOnce
from storage.db import Database, StorageError, open_database

F = TypeVar("F", bound=Callable[..., Any])


class State:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def config_or_defaults(self) -> Config:
        """The config file if one was named or exists; else built-in defaults."""
        if self.config_path or resolve_config_path(None).exists():
            return self.config
        return Config()

    def database(self) -> Database:
        return open_database(self.config.database.url)


def user_errors(func: F) -> F:
    """Turn config and database errors into one line and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, StorageError) as exc:
            click.echo(f"newsrelay: error: {exc}", err=True)
            sys.exit(2)
        except StoppedAtOnce as exc:
            click.echo(f"newsrelay: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def parse_since(value: str | None) -> datetime | None:
    """A command's ``--since`` (an ISO date/time or an age like ``2d``), or a usage error."""
    try:
        return parse_moment(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
