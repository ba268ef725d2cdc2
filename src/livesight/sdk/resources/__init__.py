"""The API's resource groups, one module each: ``livestream``, ``monitors``, ``digests``, ``webhooks``."""

from __future__ import annotations

from livesight.sdk.resources.digests import AsyncDigests, Digests
from livesight.sdk.resources.livestream import AsyncLivestream, Livestream
from livesight.sdk.resources.monitors import AsyncMonitors, Monitors
from livesight.sdk.resources.webhooks import Webhooks

__all__ = ["AsyncDigests", "AsyncLivestream", "AsyncMonitors", "Digests", "Livestream", "Monitors", "Webhooks"]
