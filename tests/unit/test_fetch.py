"""The one fetch path: errors that say whether to retry, retries with backoff, the per-host
limit on a fake clock, conditional GETs. No network: httpx's MockTransport."""

from __future__ import annotations

import httpx
import pytest

from digest.config import load_settings
from digest.errors import FetchError
from digest.fetch import Fetcher, fetch_url
from digest.ratelimit import Pacer
from tests.fakes import FakeClock


@pytest.mark.parametrize("status, retry", [(500, True), (503, True), (404, False), (429, False)])
def test_http_errors_from_fetch_say_whether_to_retry(status, retry):
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status)))
    with pytest.raises(FetchError) as caught:
        fetch_url("https://example.org/feed", cap=1000, timeout=1, client=client)
    assert caught.value.status == status
    assert caught.value.retryable is retry


def test_network_errors_are_retryable_and_the_size_cap_is_not():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(FetchError) as refused:
        fetch_url("https://example.org/feed", cap=1000, timeout=1, client=httpx.Client(transport=httpx.MockTransport(refuse)))
    assert refused.value.retryable
    huge = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=b"x" * 2000)))
    with pytest.raises(FetchError) as capped:
        fetch_url("https://example.org/feed", cap=1000, timeout=1, client=huge)
    assert not capped.value.retryable


def fetcher(handler, clock: FakeClock | None = None, **settings) -> Fetcher:
    clock = clock or FakeClock()
    return Fetcher.for_settings(load_settings(**settings), client=httpx.Client(transport=httpx.MockTransport(handler)),
                                pacer=Pacer(3.0, clock=clock), sleep=clock.sleep)


def scripted(*steps):
    """A handler answering with each step in turn: a status code or an exception to raise."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        step = steps[min(len(calls), len(steps) - 1)]
        calls.append(request)
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step, content=b"<rss/>" if step == 200 else b"")

    return handler, calls


def test_network_error_then_success_is_retried_with_backoff():
    handler, calls = scripted(httpx.ConnectError("refused"), 502, 200)
    clock = FakeClock()
    fetched = fetcher(handler, clock).get("https://example.org/feed")
    assert fetched.data == b"<rss/>" and len(calls) == 3
    # Backoff 1 s then 2 s, each topped up by the limiter to 3 s since the previous request.
    assert clock.slept == [1.0, 2.0, 2.0, 1.0]
    assert clock.now == 6.0


def test_gives_up_after_three_attempts_naming_the_last_error():
    handler, calls = scripted(httpx.ReadTimeout("slow"))
    with pytest.raises(FetchError, match=r"timed out after .*\(after 3 attempts\)"):
        fetcher(handler).get("https://example.org/feed")
    assert len(calls) == 3


def test_client_errors_and_the_cap_are_not_retried():
    handler, calls = scripted(404)
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        fetcher(handler).get("https://example.org/feed")
    assert len(calls) == 1 and "attempts" not in str(caught.value)

    big = lambda request: httpx.Response(200, content=b"x" * 2000)  # noqa: E731
    calls_before = len(calls)
    with pytest.raises(FetchError, match="limit"):
        fetcher(big, max_snapshot_bytes=1000).get("https://example.org/feed")
    assert len(calls) == calls_before


def test_conditional_headers_are_sent():
    seen = []

    def handler(request):
        seen.append(request.headers)
        return httpx.Response(304)

    fetched = fetcher(handler).get("https://example.org/feed", etag='"abc"', last_modified="Mon, 27 Apr 2026 04:00:00 GMT")
    assert fetched.data is None and fetched.status == 304
    assert seen[0]["if-none-match"] == '"abc"' and seen[0]["if-modified-since"].startswith("Mon, 27 Apr")
