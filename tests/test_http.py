"""HttpClient against a real loopback HTTP server: retries, Retry-After, 304s, limits."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from extra_pipeline.http import FetchResult, HttpClient, HttpError, RetryPolicy, parse_retry_after

FAST = RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_max=30.0, jitter=0.25)


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(waits: list[float]) -> Iterator[HttpClient]:
    with HttpClient(retry=FAST, sleep=waits.append, connect_timeout=2.0, read_timeout=5.0) as c:
        yield c


def test_200_returns_body_headers_and_sends_user_agent(
    httpserver: HTTPServer, client: HttpClient, waits: list[float]
) -> None:
    httpserver.expect_request("/data", query_string="a=1").respond_with_data(
        b"payload", headers={"ETag": '"v1"', "Last-Modified": "Wed, 25 Nov 2026 10:00:00 GMT"}
    )

    result = client.get(httpserver.url_for("/data"), params={"a": "1"})

    assert isinstance(result, FetchResult)
    assert result.status == 200
    assert result.content == b"payload"
    assert result.attempts == 1
    assert not result.not_modified
    assert result.etag == '"v1"'
    assert result.last_modified == "Wed, 25 Nov 2026 10:00:00 GMT"
    assert result.url.endswith("/data?a=1")
    assert waits == []
    request, _ = httpserver.log[0]
    assert request.headers["User-Agent"].startswith("extra-pipeline/")


def test_500s_then_200_recovers_with_growing_jittered_backoff(
    httpserver: HTTPServer, client: HttpClient, waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_ordered_request("/flaky").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/flaky").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/flaky").respond_with_data("ok")

    with caplog.at_level(logging.WARNING, logger="extra_pipeline.http"):
        result = client.get(httpserver.url_for("/flaky"))

    assert result.content == b"ok"
    assert result.attempts == 3
    assert len(httpserver.log) == 3
    assert len(waits) == 2
    # base * 2**(n-1) +- 25 %: [0.375, 0.625] then [0.75, 1.25]; the ranges do not overlap.
    assert 0.375 <= waits[0] <= 0.625
    assert 0.75 <= waits[1] <= 1.25
    assert waits[1] > waits[0]
    retry_logs = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retry_logs) == 2
    assert "HTTP 500" in retry_logs[0]
    assert "attempt 1/4" in retry_logs[0]


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=5.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_429_retry_after_seconds_is_honoured(
    httpserver: HTTPServer, client: HttpClient, waits: list[float]
) -> None:
    httpserver.expect_ordered_request("/limited").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "2"}
    )
    httpserver.expect_ordered_request("/limited").respond_with_data("ok")

    result = client.get(httpserver.url_for("/limited"))

    assert result.content == b"ok"
    assert result.attempts == 2
    assert waits == [2.0]


def test_429_retry_after_http_date_is_honoured(
    httpserver: HTTPServer, client: HttpClient, waits: list[float]
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=5)
    httpserver.expect_ordered_request("/limited").respond_with_data(
        "slow down", status=429, headers={"Retry-After": format_datetime(when, usegmt=True)}
    )
    httpserver.expect_ordered_request("/limited").respond_with_data("ok")

    result = client.get(httpserver.url_for("/limited"))

    assert result.content == b"ok"
    assert len(waits) == 1
    # HTTP-dates have whole-second resolution.
    assert 3.5 <= waits[0] <= 5.0


def test_retry_after_longer_than_allowed_fails_instead_of_sleeping(
    httpserver: HTTPServer, client: HttpClient, waits: list[float]
) -> None:
    httpserver.expect_request("/limited").respond_with_data(
        "come back tomorrow", status=503, headers={"Retry-After": "86400"}
    )

    with pytest.raises(HttpError) as info:
        client.get(httpserver.url_for("/limited"))

    assert waits == []
    assert info.value.kind == "retry_after"
    assert info.value.status == 503
    assert "Retry-After" in str(info.value)
    assert len(httpserver.log) == 1


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after("Wed, 25 Nov 2026 10:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 25 Nov 2026 09:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("-3", now=now) is None
    assert parse_retry_after(None) is None


def test_503_is_retried_then_fails_with_status_and_attempts(
    httpserver: HTTPServer, client: HttpClient, waits: list[float]
) -> None:
    httpserver.expect_request("/down").respond_with_data("down", status=503)

    with pytest.raises(HttpError) as info:
        client.get(httpserver.url_for("/down"))

    err = info.value
    assert err.status == 503
    assert err.attempts == 4
    assert len(httpserver.log) == 4
    assert len(waits) == 3  # no wait after the last attempt
    message = str(err)
    assert "\n" not in message
    assert "503" in message
    assert "after 4 attempts" in message
    assert "try again later" in message


def test_503_then_200_recovers(
    httpserver: HTTPServer, client: HttpClient, waits: list[float]
) -> None:
    httpserver.expect_ordered_request("/blip").respond_with_data("down", status=503)
    httpserver.expect_ordered_request("/blip").respond_with_data("up")

    assert client.get(httpserver.url_for("/blip")).content == b"up"
    assert len(waits) == 1


def test_404_fails_at_once_with_a_clear_message(
    httpserver: HTTPServer, client: HttpClient, waits: list[float]
) -> None:
    httpserver.expect_request("/gone").respond_with_data("nope", status=404)
    url = httpserver.url_for("/gone")

    with pytest.raises(HttpError) as info:
        client.get(url)

    assert len(httpserver.log) == 1
    assert waits == []
    err = info.value
    assert (err.url, err.status, err.attempts, err.kind) == (url, 404, 1, "status")
    message = str(err)
    assert "\n" not in message
    assert url in message
    assert "404" in message
    assert "not found at that URL" in message
    assert "base URL setting" in message
    assert "after 1 attempt:" in message


@pytest.mark.parametrize("status", [400, 403])
def test_other_4xx_are_not_retried(
    httpserver: HTTPServer, client: HttpClient, waits: list[float], status: int
) -> None:
    httpserver.expect_request("/bad").respond_with_data("no", status=status)

    with pytest.raises(HttpError) as info:
        client.get(httpserver.url_for("/bad"))

    assert info.value.status == status
    assert info.value.attempts == 1
    assert len(httpserver.log) == 1
    assert waits == []


def test_read_timeout_is_retried_a_bounded_number_of_times(
    slow_server: tuple[HTTPServer, threading.Event], waits: list[float]
) -> None:
    server, release = slow_server

    def stall(_request: Request) -> Response:
        release.wait(2.0)
        return Response("too late")

    server.expect_request("/slow").respond_with_handler(stall)
    policy = RetryPolicy(max_attempts=3, backoff_base=0.01)
    started = time.monotonic()
    with (
        HttpClient(retry=policy, sleep=waits.append, read_timeout=0.2) as client,
        pytest.raises(HttpError) as info,
    ):
        client.get(server.url_for("/slow"))
    elapsed = time.monotonic() - started

    err = info.value
    assert err.kind == "timeout"
    assert err.attempts == 3
    assert err.status is None
    assert len(waits) == 2
    assert "read timeout" in str(err)
    assert "after 3 attempts" in str(err)
    assert elapsed < 1.5


def test_body_that_stalls_midway_counts_as_timeout(
    slow_server: tuple[HTTPServer, threading.Event], waits: list[float]
) -> None:
    server, release = slow_server

    def trickle(_request: Request) -> Response:
        def body() -> Iterator[bytes]:
            yield b"first part"
            release.wait(2.0)
            yield b"never in time"

        return Response(body())

    server.expect_request("/trickle").respond_with_handler(trickle)
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01)
    with (
        HttpClient(retry=policy, sleep=waits.append, read_timeout=0.2) as client,
        pytest.raises(HttpError) as info,
    ):
        client.get(server.url_for("/trickle"))

    assert info.value.kind == "timeout"
    assert info.value.attempts == 2
    assert len(waits) == 1


def _unused_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_fails_clearly_after_retries(
    client: HttpClient, waits: list[float]
) -> None:
    url = f"http://127.0.0.1:{_unused_loopback_port()}/data"

    with pytest.raises(HttpError) as info:
        client.get(url, params={"page": "2"})

    err = info.value
    assert err.kind == "connection"
    assert err.status is None
    assert err.attempts == 4
    assert len(waits) == 3
    message = str(err)
    assert "\n" not in message
    assert f"{url}?page=2" in message
    assert "Connection refused" in message
    assert "after 4 attempts" in message
    assert "EXTRA_SOURCES=offline" in message


def test_conditional_get_with_etag_returns_304(httpserver: HTTPServer, client: HttpClient) -> None:
    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(b"full body", headers={"ETag": '"v1"'})

    httpserver.expect_request("/cond").respond_with_handler(handler)
    url = httpserver.url_for("/cond")

    first = client.get(url)
    assert first.status == 200
    assert first.etag == '"v1"'

    second = client.get(url, etag=first.etag)
    assert second.not_modified
    assert second.status == 304
    assert second.content == b""
    assert second.etag == '"v1"'

    third = client.get(url, etag='"v0"')
    assert third.status == 200
    assert third.content == b"full body"


def test_conditional_get_with_last_modified_returns_304(
    httpserver: HTTPServer, client: HttpClient
) -> None:
    stamp = "Wed, 25 Nov 2026 10:00:00 GMT"

    def handler(request: Request) -> Response:
        if request.headers.get("If-Modified-Since") == stamp:
            return Response(status=304)
        return Response(b"full body", headers={"Last-Modified": stamp})

    httpserver.expect_request("/lm").respond_with_handler(handler)
    url = httpserver.url_for("/lm")

    first = client.get(url)
    assert first.last_modified == stamp

    second = client.get(url, last_modified=first.last_modified)
    assert second.not_modified
    assert second.content == b""
    request, _ = httpserver.log[-1]
    assert request.headers["If-Modified-Since"] == stamp
    assert "If-None-Match" not in request.headers


def test_oversized_response_is_rejected_by_content_length(
    httpserver: HTTPServer, waits: list[float]
) -> None:
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)

    with HttpClient(sleep=waits.append, max_bytes=1000) as client, pytest.raises(HttpError) as info:
        client.get(httpserver.url_for("/big"))

    assert info.value.kind == "too_large"
    assert info.value.attempts == 1
    assert "max_bytes=1000" in str(info.value)
    assert waits == []


def test_oversized_streamed_response_without_length_is_rejected(
    httpserver: HTTPServer, waits: list[float]
) -> None:
    def chunked(_request: Request) -> Response:
        return Response(iter([b"x" * 800, b"y" * 800, b"z" * 800]))

    httpserver.expect_request("/stream").respond_with_handler(chunked)

    with HttpClient(sleep=waits.append, max_bytes=1000) as client, pytest.raises(HttpError) as info:
        client.get(httpserver.url_for("/stream"))

    assert info.value.kind == "too_large"
    assert len(httpserver.log) == 1


def test_response_at_the_limit_is_accepted(httpserver: HTTPServer, waits: list[float]) -> None:
    httpserver.expect_request("/exact").respond_with_data(b"x" * 1000)

    with HttpClient(sleep=waits.append, max_bytes=1000) as client:
        assert len(client.get(httpserver.url_for("/exact")).content) == 1000


def test_retry_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2.0)


def test_error_after_redirect_names_both_urls(httpserver: HTTPServer, client: HttpClient) -> None:
    httpserver.expect_request("/old").respond_with_data(
        "", status=301, headers={"Location": httpserver.url_for("/new")}
    )
    httpserver.expect_request("/new").respond_with_data("nope", status=404)

    with pytest.raises(HttpError) as info:
        client.get(httpserver.url_for("/old"))

    assert info.value.url == httpserver.url_for("/old")
    assert f"redirected to {httpserver.url_for('/new')}" in str(info.value)
