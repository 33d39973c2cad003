"""The REST API holds to its OpenAPI document: schemathesis generates requests for every path
(the commands with the right token) against the API served on 127.0.0.1 by its own thread, and
checks that no answer is a server error and every answer matches its documented schema."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from bot.api.app import build_app
from bot.api.openapi import openapi_document
from tests.integration.helpers import daemon_for, settings_for

TOKEN = "schema-test-token-0123456789abcdef"


class LiveApi:
    """The daemon (one rebalance done, so the reads have something to show) and its API on a
    free port, on an event loop of its own thread."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.url = ""
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LiveApi:
        self._thread.start()
        assert self._ready.wait(120), "the API did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        conf = settings_for(self.tmp_path, "[api]\nenabled = true\n")
        daemon, _, journal = daemon_for(conf)
        try:
            await daemon.run(once=True)
            runner = web.AppRunner(build_app(conf, daemon), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()
        finally:
            journal.close()
            self._ready.set()


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REBALANCE_API__TOKEN", TOKEN)
        with LiveApi(tmp_path_factory.mktemp("api")) as api:
            assert api.url
            yield api


@pytest.fixture(scope="module")
def api_schema(live_api: LiveApi) -> Any:
    return schemathesis.openapi.from_url(f"{live_api.url}/api/v1/openapi.json")


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """Every documented operation with valid input; and with invalid input where it takes any
    (a query value, a path value or a body)."""
    cases = []
    for path, item in openapi_document()["paths"].items():
        for method, op in item.items():
            cases.append((method.upper(), path, GenerationMode.POSITIVE))
            if "parameters" in op or "requestBody" in op:
                cases.append((method.upper(), path, GenerationMode.NEGATIVE))
    return cases


@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_every_path_holds_to_the_document(
    api_schema: Any, live_api: LiveApi, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(
            base_url=live_api.url,
            headers={"Authorization": f"Bearer {TOKEN}"},
            checks=[not_a_server_error, response_schema_conformance],
            timeout=10,
        )

    check()
