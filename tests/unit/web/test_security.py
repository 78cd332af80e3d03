"""Pure pieces of the web layer: rate limiter, client keys, path redaction, snippet checks,
CSRF tokens, form validation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from markupsafe import Markup

from digest.web.access_log import redact_path
from digest.web.context import safe_snippet
from digest.web.forms import validate
from digest.web.security import CSRF_COOKIE, CSRF_FIELD, Csrf, RateLimiter, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_is_a_sliding_window_per_key():
    clock = Clock()
    limiter = RateLimiter(3, 3600, clock=clock)
    assert [limiter.hit("a") for _ in range(3)] == [None, None, None]
    assert limiter.hit("a") == 3600 and limiter.hit("b") is None
    clock.now += 1800
    assert limiter.hit("a") == 1800  # the first three hits are still inside the hour
    clock.now += 1800
    assert limiter.hit("a") is None  # they slid out
    assert limiter.hit("a") is None and limiter.hit("a") is None and limiter.hit("a") is not None


def test_rate_limiter_memory_stays_bounded():
    clock = Clock()
    limiter = RateLimiter(1, 60, clock=clock, max_keys=100)
    for n in range(1000):
        limiter.hit(f"10.0.{n // 250}.{n % 250}")
    assert len(limiter._hits) <= 100


@pytest.mark.parametrize("host,key", [
    ("203.0.113.9", "203.0.113.9"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.9", "203.0.113.9"),
    (None, "unknown"),
    ("testclient", "testclient"),
])
def test_client_key(host, key):
    assert client_key(host) == key


@pytest.mark.parametrize("path,shown", [
    ("/manage/eyJhIjoxfQ.abc.def", "/manage/<token>"),
    ("/confirm/abc", "/confirm/<token>"),
    ("/unsubscribe/abc", "/unsubscribe/<token>"),
    ("/feeds/s/Tok_en-123.atom", "/feeds/s/<token>.atom"),
    ("/feeds/s/Tok_en-123.rss", "/feeds/s/<token>.rss"),
    ("/feeds/s/weird", "/feeds/s/<token>"),
    ("/feeds/papers.atom", "/feeds/papers.atom"),
    ("/", "/"),
])
def test_redact_path(path, shown):
    assert redact_path(path) == shown


def test_snippets_are_trusted_only_when_they_are_escaped_text_with_b_marks():
    good = "…uses <b>token</b> <b>pooling</b> &amp; friends &lt;3"
    assert safe_snippet(good) == Markup(good)
    for bad in ("<b>x</b><script>alert(1)</script>", "<b>unclosed", "</b>x<b>", "<b><b>x</b></b>",
                "a & b", "<i>x</i>", '<b onclick="x">y</b>'):
        shown = safe_snippet(bad)
        assert "<script" not in shown and "<i>" not in shown and "<b>" not in shown, bad


def request_with(cookie: str | None):
    return SimpleNamespace(cookies={CSRF_COOKIE: cookie} if cookie else {})


def test_csrf_token_signs_the_cookie_and_nothing_else():
    csrf = Csrf("secret", secure_cookie=True)
    token, cookie = csrf.token_for(request_with(None))
    assert cookie and csrf.valid(request_with(cookie), {CSRF_FIELD: token})
    assert csrf.token_for(request_with(cookie))[1] is None  # an existing cookie is reused
    assert not csrf.valid(request_with("y" * 43), {CSRF_FIELD: token})
    assert not csrf.valid(request_with(cookie), {})
    assert not csrf.valid(request_with(None), {CSRF_FIELD: token})
    other, _ = Csrf("another secret", secure_cookie=True).token_for(request_with(cookie))
    assert not csrf.valid(request_with(cookie), {CSRF_FIELD: other})


def test_form_validation_reports_every_bad_field_in_page_order():
    spec, errors = validate({"email": "x", "interests": "a OR", "timezone": "Nowhere", "send_hour": "99"})
    assert spec is None and list(errors) == ["email", "interests", "timezone", "send_hour"]
    assert errors["interests"].position is not None and errors["interests"].marked
    spec, errors = validate({"email": "ada@example.org", "interests": "pooling", "frequency": "weekly", "weekday": "3"})
    assert errors == {} and (spec.frequency, spec.weekday) == ("weekly", 3)
