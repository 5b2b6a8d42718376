"""A polite, robust HTTP GET client for the open-source connectors.

Every connector fetches through :class:`HttpClient` so that timeouts, bounded retries
with backoff, ``Retry-After``, conditional GET and size limits behave the same for every
source, and a failure always ends in one :class:`HttpError` whose message tells the
operator what went wrong and what to do.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Literal

import requests
import urllib3.exceptions
from requests.structures import CaseInsensitiveDict

__all__ = ["FetchResult", "HttpClient", "HttpError", "RetryPolicy"]

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "extra-pipeline/0.1 (+EXTRA programme data platform)"

ErrorKind = Literal[
    "status", "timeout", "connection", "too_large", "retry_after", "invalid_url", "request"
]

# Statuses whose Retry-After header we honour instead of our own backoff (RFC 9110 / 6585).
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_CHUNK_SIZE = 64 * 1024
#: how much of an error response's body is kept on the HttpError
_ERROR_BODY_BYTES = 16 * 1024


class HttpError(Exception):
    """A fetch that failed for good (retries, if any, are exhausted).

    ``str()`` is one line an operator can act on: the URL, what happened, after how many
    attempts and what to do. ``kind`` lets callers tell a missing resource from an outage
    without parsing the message.
    """

    def __init__(
        self,
        url: str,
        *,
        status: int | None,
        attempts: int,
        kind: ErrorKind,
        detail: str,
        advice: str,
        body: bytes = b"",
    ) -> None:
        self.url = url
        self.status = status
        #: the start of an error response's body (publishers explain a refusal there)
        self.body = body
        self.attempts = attempts
        self.kind: ErrorKind = kind
        self.detail = detail
        self.advice = advice
        noun = "attempt" if attempts == 1 else "attempts"
        super().__init__(f"GET {url} failed after {attempts} {noun}: {detail}. {advice}")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up; the defaults suit nightly batch fetches."""

    max_attempts: int = 4  # total attempts, including the first
    backoff_base: float = 0.5  # seconds; exponential: base * 2**(attempt-1), capped
    backoff_max: float = 30.0
    jitter: float = 0.25  # +- fraction, full random jitter
    max_retry_after: float = 120.0  # a Retry-After longer than this fails instead of sleeping
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.max_retry_after < 0:
            raise ValueError("RetryPolicy durations must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy.jitter must be a fraction between 0 and 1")

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        delay = min(self.backoff_base * 2 ** (attempt - 1), self.backoff_max)
        if self.jitter:
            delay *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return max(delay, 0.0)


@dataclass(frozen=True)
class FetchResult:
    """A successful fetch: the body (empty on 304) plus what is needed for provenance."""

    url: str  # final URL, after redirects
    status: int  # 200 (or another 2xx) or 304
    content: bytes  # b"" on 304
    headers: Mapping[str, str] = field(repr=False)
    attempts: int = 1

    @property
    def not_modified(self) -> bool:
        """True when the server confirmed our stored copy is current (conditional GET)."""
        return self.status == 304

    @property
    def etag(self) -> str | None:
        """The response's ETag, to send as If-None-Match next time."""
        return _header(self.headers, "ETag")

    @property
    def last_modified(self) -> str | None:
        """The response's Last-Modified, to send as If-Modified-Since next time."""
        return _header(self.headers, "Last-Modified")


class HttpClient:
    """GET with timeouts, bounded retries, Retry-After, conditional GET and a size cap.

    One ``requests.Session`` per client (connection reuse, one User-Agent). Waits go
    through ``sleep`` so tests can record them instead of sleeping.
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),  # frozen, so a shared default is safe
        user_agent: str = DEFAULT_USER_AGENT,
        sleep: Callable[[float], None] = time.sleep,
        max_bytes: int = 512 * 1024 * 1024,
        rng: random.Random | None = None,
    ) -> None:
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("HttpClient timeouts must be positive")
        if max_bytes < 0:
            raise ValueError("HttpClient.max_bytes must not be negative")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retry = retry
        self.user_agent = user_agent
        self.max_bytes = max_bytes
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = user_agent

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the one operation -----------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """Fetch ``url``; return 200 with the body or 304 (conditional GET), else raise.

        ``etag`` / ``last_modified`` come from the stored snapshot of the same URL; when
        given they are sent as If-None-Match / If-Modified-Since and a 304 comes back as
        ``FetchResult(status=304, content=b"")``.
        """
        request_headers: dict[str, str] = dict(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        shown_url = self._display_url(url, params)
        policy = self.retry

        attempt = 0
        while True:
            attempt += 1
            final = attempt >= policy.max_attempts
            try:
                outcome = self._attempt(url, params, request_headers, shown_url, attempt)
            except _Retryable as problem:
                if final:
                    raise problem.error(shown_url, attempt) from problem.cause
                wait = policy.backoff(attempt, self._rng)
                if problem.retry_after is not None:
                    if problem.retry_after > policy.max_retry_after:
                        raise HttpError(
                            shown_url,
                            status=problem.status,
                            attempts=attempt,
                            kind="retry_after",
                            detail=(
                                f"{problem.detail}, and the server asked us to wait "
                                f"{problem.retry_after:.0f} s (Retry-After), longer than the "
                                f"{policy.max_retry_after:.0f} s we are willing to wait"
                            ),
                            advice="Try again later, or fetch this source less often",
                        ) from problem.cause
                    wait = problem.retry_after
                logger.warning(
                    "GET %s: %s (attempt %d/%d); retrying in %.2f s%s",
                    shown_url,
                    problem.detail,
                    attempt,
                    policy.max_attempts,
                    wait,
                    " as asked by Retry-After" if problem.retry_after is not None else "",
                )
                self._sleep(wait)
                continue
            return outcome

    # -- internals -------------------------------------------------------------------------

    def _attempt(
        self,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        shown_url: str,
        attempt: int,
    ) -> FetchResult:
        """One request. Raises _Retryable for transient trouble, HttpError for the rest."""
        try:
            response = self._session.get(
                url,
                params=params,
                headers=headers,
                timeout=(self.connect_timeout, self.read_timeout),
                stream=True,
                allow_redirects=True,
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise _Retryable(
                "timeout",
                f"connect timeout (no connection within {self.connect_timeout:g} s)",
                cause=exc,
            ) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise _Retryable(
                "timeout",
                f"read timeout (no response within {self.read_timeout:g} s)",
                cause=exc,
            ) from exc
        except requests.exceptions.SSLError as exc:
            raise HttpError(
                shown_url,
                status=None,
                attempts=attempt,
                kind="connection",
                detail=f"TLS error ({_root_cause(exc)})",
                advice="Check the server certificate, any TLS-intercepting proxy and the "
                "source's base URL setting",
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise _Retryable(
                "connection", f"connection error ({_root_cause(exc)})", cause=exc
            ) from exc
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ) as exc:
            raise HttpError(
                shown_url,
                status=None,
                attempts=attempt,
                kind="invalid_url",
                detail=f"invalid URL ({exc})",
                advice="Check the source's base URL setting",
            ) from exc
        except requests.exceptions.TooManyRedirects as exc:
            raise HttpError(
                shown_url,
                status=None,
                attempts=attempt,
                kind="request",
                detail="too many redirects",
                advice="Check the source's base URL setting; the server redirects in a loop",
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise HttpError(
                shown_url,
                status=None,
                attempts=attempt,
                kind="request",
                detail=f"request failed ({exc})",
                advice="Check the source's base URL setting",
            ) from exc

        with response:
            status = response.status_code
            if status == 304:
                return FetchResult(
                    url=response.url,
                    status=304,
                    content=b"",
                    headers=CaseInsensitiveDict(response.headers),
                    attempts=attempt,
                )
            if 200 <= status < 300:
                content = self._read_body(response, shown_url, attempt)
                logger.debug("GET %s: HTTP %d, %d bytes", shown_url, status, len(content))
                return FetchResult(
                    url=response.url,
                    status=status,
                    content=content,
                    headers=CaseInsensitiveDict(response.headers),
                    attempts=attempt,
                )
            detail = f"HTTP {status} {_reason(status, response.reason)}".rstrip()
            if response.history and response.url:
                detail += f" (redirected to {response.url})"
            if status in self.retry.retry_statuses:
                retry_after = None
                if status in _RETRY_AFTER_STATUSES:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise _Retryable("status", detail, status=status, retry_after=retry_after)
            raise HttpError(
                shown_url,
                status=status,
                attempts=attempt,
                kind="status",
                detail=detail,
                advice=_advice_for_status(status),
                body=next(response.iter_content(_ERROR_BODY_BYTES), b""),
            )

    def _read_body(self, response: requests.Response, shown_url: str, attempt: int) -> bytes:
        """Stream the body, refusing anything over max_bytes before it fills memory."""
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(shown_url, response.status_code, attempt, int(declared))
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=_CHUNK_SIZE):
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large(shown_url, response.status_code, attempt, None)
                chunks.append(chunk)
        except requests.exceptions.ConnectionError as exc:
            # requests reports a read timeout in the middle of the body as ConnectionError.
            if _is_read_timeout(exc):
                raise _Retryable(
                    "timeout",
                    f"read timeout (body stalled for {self.read_timeout:g} s)",
                    cause=exc,
                ) from exc
            raise _Retryable(
                "connection", f"connection error while reading ({_root_cause(exc)})", cause=exc
            ) from exc
        except requests.exceptions.ChunkedEncodingError as exc:
            raise _Retryable(
                "connection", "connection broken in the middle of the response", cause=exc
            ) from exc
        except requests.exceptions.ContentDecodingError as exc:
            raise HttpError(
                shown_url,
                status=response.status_code,
                attempts=attempt,
                kind="request",
                detail=f"could not decode the response body ({_root_cause(exc)})",
                advice="The server sent a corrupt compressed body; try again later",
            ) from exc
        return b"".join(chunks)

    def _too_large(
        self, shown_url: str, status: int, attempt: int, declared: int | None
    ) -> HttpError:
        size = f"{declared} bytes" if declared is not None else "more than that"
        return HttpError(
            shown_url,
            status=status,
            attempts=attempt,
            kind="too_large",
            detail=f"response too large ({size}; the limit is max_bytes={self.max_bytes})",
            advice="Check the URL points at the expected resource, or raise max_bytes "
            "for this source if the payload legitimately grew",
        )

    def _display_url(self, url: str, params: Mapping[str, str] | None) -> str:
        """The URL with its query string, for messages, even when the request never went out."""
        try:
            prepared = requests.Request("GET", url, params=params).prepare()
        except requests.exceptions.RequestException:
            return url
        return prepared.url or url


@dataclass
class _Retryable(Exception):
    """Internal: a transient failure of one attempt."""

    kind: ErrorKind
    detail: str
    status: int | None = None
    retry_after: float | None = None
    cause: BaseException | None = None

    def error(self, url: str, attempts: int) -> HttpError:
        """The HttpError to raise once attempts are exhausted."""
        if self.kind == "timeout":
            advice = (
                "The server is slow or down; try again later, or raise the read timeout "
                "if this source is known to be slow"
            )
        elif self.kind == "connection":
            advice = (
                "Check network access (proxy, firewall, DNS) and the source's base URL "
                "setting, or run with EXTRA_SOURCES=offline to use bundled snapshots"
            )
        else:
            advice = _advice_for_status(self.status or 0)
        return HttpError(
            url,
            status=self.status,
            attempts=attempts,
            kind=self.kind,
            detail=self.detail,
            advice=advice,
        )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds else None  # reject NaN
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)


def _advice_for_status(status: int) -> str:
    if status in (404, 410):
        return (
            "The resource was not found at that URL; check the source's base URL setting "
            "and whether the publisher moved or renamed the resource"
        )
    if status in (401, 403, 407):
        return (
            "Access was refused; check whether the source now needs credentials or blocks "
            "automated clients, and the source's base URL setting"
        )
    if status == 429:
        return "The source is rate limiting us; try again later, or fetch it less often"
    if 400 <= status < 500:
        return (
            "The server rejected the request; check the request parameters and the "
            "source's base URL setting"
        )
    if status >= 500:
        return "The server is having problems; try again later"
    return "Unexpected response; check the source's base URL setting"


def _reason(status: int, server_reason: str | None) -> str:
    """The standard reason phrase ('Not Found'), else whatever the server sent."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return server_reason or ""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _iter_causes(exc: BaseException) -> list[BaseException]:
    """exc and everything it wraps (args, urllib3 .reason, __cause__, __context__)."""
    seen: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        nested = [a for a in current.args if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            nested.append(reason)
        for link in (current.__cause__, current.__context__):
            if link is not None:
                nested.append(link)
        stack.extend(nested)
    return seen


def _root_cause(exc: BaseException) -> str:
    """A short human reason ('Connection refused') instead of urllib3's nested repr."""
    for cause in _iter_causes(exc):
        if isinstance(cause, OSError) and cause.strerror:
            return str(cause.strerror)
    for cause in reversed(_iter_causes(exc)):
        text = str(cause).strip()
        if text:
            return text[:200]
    return type(exc).__name__


def _is_read_timeout(exc: BaseException) -> bool:
    return any(
        isinstance(c, urllib3.exceptions.ReadTimeoutError | TimeoutError) for c in _iter_causes(exc)
    )
