"""Property-based fuzzing of the whole OpenAPI schema against a real server: no 5xx, no hang."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from livesight.settings import Settings

from .conftest import LiveServer, start_server


@pytest.fixture
def fuzz_server(server_settings: Settings) -> Iterator[LiveServer]:
    # Fuzzed URLs must never make this machine connect anywhere but loopback.
    locked = server_settings.model_copy(
        update={"blocked_networks": ["0.0.0.0/0", "::/0"], "open_timeout_seconds": 2, "read_timeout_seconds": 2}
    )
    live = start_server(locked)
    try:
        yield live
    finally:
        live.thread.stop()


@pytest.fixture
def api_schema(fuzz_server: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, fuzz_server: LiveServer) -> None:
    response = case.call(base_url=fuzz_server.url, timeout=20)
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:500])
    content_type = response.headers.get("content-type") or [""]
    if response.status_code >= 400 and content_type[0].startswith("application/json"):
        body = response.json()
        assert set(body["error"]) >= {"code", "message", "remediation"}


def test_every_schema_reference_resolves(fuzz_server: LiveServer) -> None:
    """A dangling ``$ref`` hides a body from client generators and from the fuzzing above."""
    with fuzz_server.client() as client:
        document = client.get("/openapi.json").json()

    def refs(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = set(refs(document))
    names = document["components"]["schemas"]
    assert found and all(ref.startswith("#/components/schemas/") for ref in found)
    assert {ref.rsplit("/", 1)[-1] for ref in found} <= names.keys()
