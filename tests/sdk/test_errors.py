"""Error answers of a real server become the SDK's exception tree; keys and the environment configure clients."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from livesight import (
    APIStatusError,
    AsyncLiveSight,
    AuthenticationError,
    BadRequestError,
    LiveSight,
    NotFoundError,
    UnprocessableEntityError,
)
from livesight.settings import Settings
from livesight.store import Store
from livesight.testing.hls_server import LiveHLSServer

from .conftest import CONDITION, LiveServer, start_server


def test_error_answers_map_to_exceptions(client: LiveSight, stream: LiveHLSServer) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.monitors.get("job_nope")
    assert missing.value.status_code == 404 and missing.value.code == "JOB_NOT_FOUND"
    assert missing.value.remediation and "job_nope" in missing.value.message
    assert isinstance(missing.value, APIStatusError) and missing.value.response.status_code == 404
    with pytest.raises(NotFoundError):
        client.monitors.cancel("job_nope")
    with pytest.raises(UnprocessableEntityError) as invalid:
        client.monitors.create(stream.url, "", interval_seconds=0, input_mode="video")  # type: ignore[arg-type]
    assert invalid.value.code == "VALIDATION_ERROR" and invalid.value.status_code == 422
    assert {"condition", "interval_seconds", "input_mode"} <= {f.field for f in invalid.value.fields}
    with pytest.raises(BadRequestError) as vod:
        client.monitors.create(stream.vod_url, CONDITION)
    assert vod.value.code == "NOT_LIVESTREAM"


def test_unknown_job_events_raise_not_found(client: LiveSight) -> None:
    with pytest.raises(NotFoundError) as missing:
        next(client.monitors.stream_events("job_nope"))
    assert missing.value.code == "JOB_NOT_FOUND"


@pytest.fixture
def keyed(server_settings: Settings) -> Iterator[tuple[LiveServer, str]]:
    async def make() -> str:
        store = await Store.open(server_settings.resolved_database_url())
        try:
            return (await store.create_api_key("sdk"))[1]
        finally:
            await store.close()

    key = asyncio.run(make())
    live = start_server(server_settings)
    try:
        yield live, key
    finally:
        live.thread.stop()


async def test_keys(keyed: tuple[LiveServer, str], monkeypatch: pytest.MonkeyPatch) -> None:
    server, key = keyed
    with LiveSight(base_url=server.url, api_key="ls_not-a-key") as wrong, pytest.raises(AuthenticationError) as err:
        wrong.monitors.list()
    assert err.value.status_code == 401 and err.value.code == "UNAUTHORIZED"
    monkeypatch.delenv("LIVESIGHT_API_KEY", raising=False)
    with LiveSight(base_url=server.url) as anonymous, pytest.raises(AuthenticationError):
        anonymous.monitors.list()
    # Both settings come from the environment when not passed.
    monkeypatch.setenv("LIVESIGHT_BASE_URL", server.url)
    monkeypatch.setenv("LIVESIGHT_API_KEY", key)
    with LiveSight() as from_env:
        assert from_env.base_url == server.url and from_env.monitors.list().total == 0
    async with AsyncLiveSight() as async_env:
        assert (await async_env.monitors.list()).total == 0
    async with AsyncLiveSight(api_key="ls_not-a-key") as async_wrong:
        with pytest.raises(AuthenticationError):
            await async_wrong.monitors.list()
