"""``[http]``: where the console listens, and who may ask it to crawl."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from crawler.config_types import Strict


class HttpConfig(Strict):
    """The console (``newsrelay run`` and ``newsrelay serve``): ``host:port``, "" = off."""

    listen: Annotated[str, Field(pattern=r"^$|^[^\s:]+:\d{1,5}$")] = "127.0.0.1:8080"
    token: str | None = Field(default=None, repr=False)  # required by every POST
    # Host names the console answers to besides the listen address and loopback names (a
    # reverse proxy's); other Host headers get 400 (DNS rebinding).
    allowed_hosts: list[str] = Field(default_factory=list)

    @field_validator("listen")
    @classmethod
    def _port_in_range(cls, value: str) -> str:
        if value and not 1 <= int(value.rpartition(":")[2]) <= 65535:
            raise ValueError(f"{value!r}: the port must be 1-65535")
        return value
