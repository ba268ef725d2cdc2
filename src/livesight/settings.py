"""One settings object for the whole process, read from ``LIVESIGHT_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("livesight", appauthor=False))


class Settings(BaseSettings):
    """Process-wide configuration. Every field can be set as ``LIVESIGHT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="LIVESIGHT_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default_factory=_default_data_dir, description="Database file and recordings live here.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is a SQLite file in data_dir (livesight.db)."
    )

    # Judge (OpenAI-compatible endpoint). OPENAI_* are read as fallbacks.
    model_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("LIVESIGHT_MODEL_BASE_URL", "OPENAI_BASE_URL")
    )
    model_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("LIVESIGHT_MODEL_API_KEY", "OPENAI_API_KEY")
    )
    model: str = Field(default="gpt-4o-mini", validation_alias=AliasChoices("LIVESIGHT_MODEL"))
    model_timeout_seconds: float = 60.0
    model_max_retries: int = 3
    model_concurrency: int = Field(default=4, description="Checks of one run that may be in flight at once.")

    # Sources
    open_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 10.0
    give_up_after_seconds: float = Field(default=120.0, description="A live source with no frames this long fails.")
    reconnect_initial_seconds: float = 0.5
    reconnect_max_seconds: float = 15.0
    analysis_fps: float = Field(default=4.0, description="Decoded frames per second handed to samplers.")
    frame_queue_size: int = 64

    # Pipeline
    chunk_seconds: float = 10.0
    frame_long_side: int = 768
    jpeg_quality: int = 85

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'livesight.db'}"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword arguments win over it."""
    return Settings(**overrides)  # type: ignore[arg-type]
