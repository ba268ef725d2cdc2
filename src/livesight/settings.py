"""One settings object for the whole process, read from ``LIVESIGHT_*`` environment variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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
    session_event_max_hold_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Sessions' rapid review holds an event still visible at its chunk's end until a later chunk "
        "shows where it ends, for at most this much stream time from its start; then it is announced with its end "
        "so far and the stored end is updated as it goes on.",
    )

    # Server
    host: str = "127.0.0.1"
    port: int = 8800
    public_url: str | None = Field(default=None, description="Base URL put in webhook links; default http://host:port.")
    max_jobs: int = Field(default=50, description="Running live-monitor jobs per API key.")
    min_interval_seconds: float = Field(default=5.0, description="Smallest interval_seconds accepted (1 to 5).")
    signed_url_ttl_seconds: float = Field(default=24 * 3600, description="Life of frame and clip links in events.")
    manifest_ttl_seconds: float = Field(default=600, description="Life of signed playback manifests.")
    idempotency_ttl_seconds: float = Field(
        default=24 * 3600, gt=0, description="How long a POST's Idempotency-Key and its first answer are kept."
    )
    retention_days: float | None = Field(default=7.0, description="Delete recordings older than this (None: keep).")
    retention_max_gb: float | None = Field(default=20.0, description="Keep recordings under this size, oldest go.")
    storage_url: str | None = Field(
        default=None,
        description="Where recordings and evidence frames are kept: unset for the local recordings directory, or "
        "s3://bucket/prefix for an S3-compatible object store (needs livesight[s3]) that every replica reaches.",
    )
    storage_endpoint_url: str | None = Field(
        default=None, description="The S3-compatible server's URL (MinIO, Ceph, R2…); unset: AWS S3."
    )
    storage_region: str | None = Field(default=None, description="The S3 region; unset: AWS's usual configuration.")
    storage_access_key_id: str | None = Field(
        default=None, description="S3 access key; unset: the usual AWS variables and files (AWS_ACCESS_KEY_ID…)."
    )
    storage_secret_access_key: SecretStr | None = Field(default=None, description="S3 secret key, with the above.")
    allow_file_sources: bool = Field(
        default=False, description="Let API clients name local files as sources (off: they could probe the disk)."
    )
    sse_keepalive_seconds: float = Field(default=15.0, description="Seconds between SSE keep-alive comments.")
    signing_secret: str | None = Field(default=None, description="Secret for signed URLs; default: a file in data_dir.")
    lease_seconds: float = Field(
        default=15.0,
        ge=1.0,
        description="A run's lease in the database: the process running it renews it every third of this; a run "
        "whose process died is resumed by another (replicas on one database) this long after its last renewal.",
    )

    # Where runs are placed (livesight.runs.runner).
    runner: Literal["local", "ray"] = Field(
        default="local",
        description="local: runs in the livesight serve process; ray: on a Ray cluster, one actor per source URL "
        "(needs livesight[ray], PostgreSQL and LIVESIGHT_SIGNING_SECRET).",
    )
    ray_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LIVESIGHT_RAY_ADDRESS", "RAY_ADDRESS"),
        description="The Ray cluster to join (host:port); unset: a Ray instance local to this process.",
    )
    ray_node_ip: str | None = Field(
        default=None, description="This machine's address in the Ray cluster, when Ray's guess is wrong."
    )
    ray_namespace: str = Field(default="livesight", description="Ray namespace of LiveSight's actors.")
    ray_cpus_per_source: float = Field(
        default=0.25, gt=0, description="CPUs a source's actor declares, so Ray packs sources onto nodes."
    )
    ray_idle_seconds: float = Field(
        default=30.0, ge=0, description="A source's actor with no run for this long ends, freeing its CPUs."
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'livesight.db'}"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    # Outbound network policy for user-supplied URLs, sources and webhooks alike (livesight.netpolicy).
    allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDR ranges to allow although the policy would refuse them (comma-separated); "
        "link-local and cloud-metadata addresses stay refused.",
    )
    blocked_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="CIDR ranges always refused (comma-separated); wins over everything else."
    )
    allow_loopback: bool = Field(default=False, description="Allow 127.0.0.0/8 and ::1 (demo, tests, single user).")
    network_policy: Literal["default", "strict"] = Field(
        default="default",
        description="default: private LAN ranges allowed (cameras live there); strict: every non-public address "
        "refused (multi-tenant servers).",
    )

    # Webhooks (livesight.delivery): the outbox dispatcher.
    webhook_secret: str | None = Field(
        default=None,
        description="whsec_… secret signing webhooks of runs without an API key; default: generated once "
        "into data_dir/webhook_secret.",
    )
    webhook_timeout_seconds: float = Field(default=10.0, description="Whole-attempt limit of one webhook POST.")
    webhook_retry_initial_seconds: float = Field(default=5.0, description="Wait before the first retry.")
    webhook_retry_max_seconds: float = Field(default=3600.0, description="Longest wait between retries.")
    webhook_max_attempts: int = Field(default=40, description="Attempts before a delivery is given up.")
    webhook_give_up_after_seconds: float = Field(
        default=24 * 3600.0, description="No retry is scheduled later than this after a delivery was queued."
    )
    webhook_concurrency: int = Field(default=8, description="Webhook POSTs in flight at once per dispatcher.")
    webhook_lease_seconds: float = Field(
        default=60.0, description="A delivery a dispatcher claimed is retried by another after this long."
    )
    webhook_poll_seconds: float = Field(
        default=5.0, description="How often the dispatcher looks for deliveries queued by other processes."
    )
    webhook_shutdown_grace_seconds: float = Field(
        default=5.0, description="On shutdown, in-flight webhook POSTs get this long to finish."
    )

    @field_validator("allowed_networks", "blocked_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        # Environment variables hold "10.0.0.0/8,192.168.1.7/32"; a JSON list is accepted as well.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    # Local CLIP judge (``pip install 'livesight[clip]'``): the embedded default with no model endpoint.
    clip_model: str = Field(
        default="Xenova/clip-vit-base-patch32",
        description="Hugging Face hub repository with CLIP exported to ONNX (onnx/vision_model*.onnx, "
        "onnx/text_model*.onnx, tokenizer.json, preprocessor_config.json), downloaded on first use.",
    )
    clip_model_dir: Path | None = Field(
        default=None, description="A local directory with those files; when set, nothing is downloaded."
    )
    clip_cache_dir: Path | None = Field(
        default=None, description="Where hub downloads are cached (default: the Hugging Face cache, HF_HOME)."
    )
    clip_quantized: bool = Field(
        default=True, description="Use the int8 ONNX files (~155 MB, faster on CPU) rather than fp32 (~600 MB)."
    )
    clip_download: bool = Field(
        default=True, description="Download missing CLIP weights on first use (false: only the cache is used)."
    )
    clip_threshold: float = Field(
        default=0.5,
        description="Local CLIP says yes when its probability for the condition, against the contrast prompts, "
        "reaches this (0-1).",
    )
    clip_threads: int = Field(default=0, description="CPU threads for ONNX Runtime (0: its default).")

    # Cascade: a cheap first judge (local CLIP) must score above a threshold before the model is asked.
    cascade: bool = Field(
        default=False, description="Ask local CLIP first and the configured model only when CLIP sees a chance."
    )
    cascade_threshold: float = Field(
        default=0.2,
        description="CLIP probability from which the model is asked; below it the check answers no (0-1).",
    )

    # Change gate (enable_prefilter) and the model-call budget.
    prefilter_sensitivity: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Change gate sensitivity, 0 (large changes only) to 1 (any change)."
    )
    prefilter_max_staleness_seconds: float = Field(
        default=120.0, gt=0, description="A reused verdict is never older than this: the model looks again."
    )
    session_prefilter: bool = Field(
        default=True, description="Sessions' rapid review skips chunks whose picture has not changed."
    )
    max_model_calls_per_hour: int | None = Field(
        default=None, ge=1, description="Per run: past this many model calls an hour the interval stretches."
    )

    # Video input for clip/hybrid modes.
    model_api: Literal["openai", "gemini"] = Field(
        default="openai",
        description="openai: any OpenAI-compatible chat completions API; gemini: Gemini's native "
        "generateContent API (LIVESIGHT_MODEL_BASE_URL defaults to Google's).",
    )
    model_video_input: bool | None = Field(
        default=None,
        description="Send clip/hybrid checks as a real MP4 clip (gemini: inline video; openai-compatible: a "
        "video_url part, as vLLM accepts). Default: on for gemini, off otherwise.",
    )


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword arguments win over it."""
    return Settings(**overrides)  # type: ignore[arg-type]
