"""A real S3-compatible HTTP server (moto's server mode) on a free loopback port, and a bucket on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

boto3 = pytest.importorskip("boto3", reason="needs the s3 extra: pip install -e '.[s3]'")
moto_server = pytest.importorskip("moto.server", reason="needs moto[server] from the test extra")


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def keys(self) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    # boto3's usual credential chain, as a deployment would set it (the server accepts any key).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        found = S3Server(f"http://{host}:{port}", "recordings")
        # moto keeps its state per process, not per server: start from an empty store
        httpx.post(f"{found.endpoint_url}/moto-api/reset").raise_for_status()
        found.client().create_bucket(Bucket=found.bucket)
        yield found
    finally:
        server.stop()
