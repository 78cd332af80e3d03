"""Pure pieces of the web layer: client keys, path redaction, snippet checks, CSRF tokens
(with key rotation), form validation. The database-backed rate limits are tested in
tests/integration/test_rate_limits.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from markupsafe import Markup

from digest.web.access_log import redact_path
from digest.web.context import safe_snippet
from digest.web.forms import validate
from digest.web.security import CSRF_COOKIE, CSRF_FIELD, Csrf, client_key


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
    ("/feedback/abc", "/feedback/<token>"),
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


def test_csrf_tokens_of_the_previous_key_pass_during_a_rollover_only():
    old, new = "o" * 16 + "ld-key-0123456789abcdef", "n" * 16 + "ew-key-0123456789abcdef"
    token, cookie = Csrf(old, secure_cookie=True).token_for(request_with(None))
    assert Csrf((new, old), secure_cookie=True).valid(request_with(cookie), {CSRF_FIELD: token})
    assert not Csrf(new, secure_cookie=True).valid(request_with(cookie), {CSRF_FIELD: token})
    fresh, _ = Csrf((new, old), secure_cookie=True).token_for(request_with(cookie))
    assert Csrf(new, secure_cookie=True).valid(request_with(cookie), {CSRF_FIELD: fresh})  # signed with the new key


def test_form_validation_reports_every_bad_field_in_page_order():
    spec, errors = validate({"email": "x", "interests": "a OR", "timezone": "Nowhere", "send_hour": "99"})
    assert spec is None and list(errors) == ["email", "interests", "timezone", "send_hour"]
    assert errors["interests"].position is not None and errors["interests"].marked
    spec, errors = validate({"email": "ada@example.org", "interests": "pooling", "frequency": "weekly", "weekday": "3"})
    assert errors == {} and (spec.frequency, spec.weekday) == ("weekly", 3)
