"""Short-lived signed URLs (HMAC-SHA256 over path and expiry) for frames, clips and playlists."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode


class URLSigner:
    """Signs ``path`` with an expiry; any change to either invalidates the signature."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        self._secret = secret

    @classmethod
    def from_data_dir(cls, data_dir: Path, configured: str | None = None) -> URLSigner:
        """Use the configured secret, else one generated once and kept in ``data_dir`` (mode 600)."""
        if configured:
            return cls(configured.encode())
        path = data_dir / "signing.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return cls(path.read_bytes())

    def signature(self, path: str, expires: int) -> str:
        """The signature of ``path`` valid until ``expires`` (to sign several paths with one expiry)."""
        return self._mac(path, expires)

    def _mac(self, path: str, expires: int) -> str:
        digest = hmac.new(self._secret, f"{path}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, path: str, ttl_seconds: float, now: float | None = None) -> tuple[str, int]:
        """``path?expires=…&sig=…`` and the expiry (unix seconds)."""
        expires = int((now if now is not None else time.time()) + ttl_seconds)
        return f"{path}?{urlencode({'expires': expires, 'sig': self._mac(path, expires)})}", expires

    def verify(self, path: str, expires: str | int | None, sig: str | None, now: float | None = None) -> bool:
        if expires is None or sig is None:
            return False
        try:
            when = int(expires)
        except (TypeError, ValueError):
            return False
        if when < (now if now is not None else time.time()):
            return False
        # bytes, not str: compare_digest refuses non-ASCII text, and a forged signature may be anything
        return hmac.compare_digest(self._mac(path, when).encode(), sig.encode("utf-8", "surrogatepass"))
