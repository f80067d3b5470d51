"""``[images]``: keep a copy of each article's lead image, so a republished page does not
hotlink the outlet. Off by default: the image is then metadata only (its URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from crawler.config_types import Strict

_SQLITE = "sqlite:///"


class ImagesConfig(Strict):
    download: bool = False
    # Larger images are not kept (the article is, with the image's URL only).
    max_bytes: Annotated[int, Field(gt=0)] = 5 * 1024 * 1024
    # Where the files go; relative to the config file. Default: `images` beside the SQLite
    # database; required for PostgreSQL.
    directory: Annotated[str, Field(min_length=1)] | None = None

    def missing_directory(self, database_url: str) -> str | None:
        """Why this config cannot store images on ``database_url``'s host, or None."""
        if self.download and self.directory is None and not database_url.startswith(_SQLITE):
            return "[images] directory is required with download = true on PostgreSQL"
        return None

    def anchored(self, base: Path, database_url: str) -> ImagesConfig:
        """The directory, absolute: a relative one is relative to the config file (``base``);
        none given, ``images`` beside the SQLite database."""
        if self.directory is not None:
            directory = (base / self.directory).resolve()
            return self.model_copy(update={"directory": str(directory)})
        if database_url.startswith(_SQLITE) and database_url != _SQLITE + ":memory:":
            database = (base / database_url[len(_SQLITE) :]).resolve()
            return self.model_copy(update={"directory": str(database.parent / "images")})
        return self
