"""Links bound to a person, the one status-transition table, and the sign-up queue, on both
databases (issue 15 item 1)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import insert, select, update

from digest.enums import SubscriberStatus as S
from digest.jobs.signups import process_signups, queue_signup
from digest.jobs.subscribers import (
    TRANSITIONS,
    Action,
    ConfirmMail,
    InvalidMove,
    LinkGone,
    add_subscriber,
    apply_action,
    change_status,
    remove_subscriber,
    rotate_links,
    set_status,
    subscriber_for_link,
)
from digest.store import subscribers as subscriber_store
from digest.store.db import open_engine
from digest.store.tables import deliveries, signup_requests, subscribers
from digest.subscribers import SubscriberSpec
from digest.tokens import BadToken, make_token, sign_link

KEY = "links-test-key-0123456789abcdefghijklmnop"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def add(engine, email="ada@example.org", status=S.ACTIVE, **fields):
    return add_subscriber(engine, SubscriberSpec(email=email, status=status, **fields), now=NOW)


def row_of(engine, email):
    with engine.connect() as conn:
        return subscriber_store.find(conn, email)


def resolve(engine, purpose, token, **kwargs):
    with engine.connect() as conn:
        return subscriber_for_link(conn, KEY, purpose, token, **kwargs)


def confirmations(engine, subscriber_id) -> int:
    with engine.connect() as conn:
        return len(list(conn.execute(select(deliveries.c.id).where(
            deliveries.c.subscriber_id == subscriber_id, deliveries.c.kind == "confirm"))))


# ---- links ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", ["confirm", "manage", "unsubscribe", "feedback"])
def test_a_removed_subscribers_links_never_act_on_whoever_holds_the_row_next(engine, purpose):
    """The HIGH attack of issue 15, at its root: even if the row number comes back (it no
    longer does: see test_ids_are_never_reused), the link is bound to the old secret."""
    ada = add(engine)
    token = sign_link(KEY, purpose, ada.id, ada.link_secret)
    assert resolve(engine, purpose, token)[0].email == "ada@example.org"
    remove_subscriber(engine, "ada@example.org")
    with pytest.raises(LinkGone):
        resolve(engine, purpose, token)
    bob = dict(subscriber_store.new_row(SubscriberSpec(email="bob@example.org", status=S.ACTIVE), now=NOW, cursor=0),
               id=ada.id)  # the worst case: the very same row number
    with engine.begin() as conn:
        conn.execute(insert(subscribers), bob)
    with pytest.raises(LinkGone):
        resolve(engine, purpose, token)
    with pytest.raises(LinkGone):  # nor an id-only link of the old kind: Bob's row is not legacy
        resolve(engine, purpose, make_token(KEY, purpose, ada.id))


def test_ids_are_never_reused(engine):
    first = add(engine, "one@example.org")
    remove_subscriber(engine, "one@example.org")
    assert add(engine, "two@example.org").id > first.id


def test_legacy_rows_keep_their_old_links_and_manage_ones_expire(engine):
    ada = add(engine)
    with engine.begin() as conn:
        conn.execute(update(subscribers).where(subscribers.c.id == ada.id).values(legacy_links=True))
    with time_machine.travel(NOW - timedelta(days=59), tick=False):
        recent = make_token(KEY, "manage", ada.id)
    with time_machine.travel(NOW - timedelta(days=61), tick=False):
        stale = make_token(KEY, "manage", ada.id)
        old_unsubscribe = make_token(KEY, "unsubscribe", ada.id)
    with time_machine.travel(NOW, tick=False):
        assert resolve(engine, "manage", recent)[1].legacy
        with pytest.raises(BadToken) as caught:
            resolve(engine, "manage", stale)
        assert caught.value.expired
        assert resolve(engine, "unsubscribe", old_unsubscribe)[0].id == ada.id  # a year for unsubscribe links


def test_new_links_expire_by_purpose(engine):
    ada = add(engine)
    with time_machine.travel(NOW, tick=False):
        tokens = {purpose: sign_link(KEY, purpose, ada.id, ada.link_secret) for purpose in ("confirm", "manage", "unsubscribe")}
    expected = {"confirm": 3, "manage": 60, "unsubscribe": 365}
    for purpose, days in expected.items():
        with time_machine.travel(NOW + timedelta(days=days, hours=-1), tick=False):
            resolve(engine, purpose, tokens[purpose])
        with time_machine.travel(NOW + timedelta(days=days, hours=1), tick=False):
            with pytest.raises(BadToken):
                resolve(engine, purpose, tokens[purpose])


def test_rotating_a_subscribers_links_stops_every_link_sent_so_far(engine):
    ada = add(engine)
    token = sign_link(KEY, "manage", ada.id, ada.link_secret)
    fresh = rotate_links(engine, "ada@example.org")
    with pytest.raises(LinkGone):
        resolve(engine, "manage", token)
    assert resolve(engine, "manage", sign_link(KEY, "manage", fresh.id, fresh.link_secret))[0].id == ada.id


# ---- the one transition table ------------------------------------------------------------------------


def _expected(action: Action, status: S):
    step = TRANSITIONS.get((action, status))
    if step is not None:
        return step.to, step.confirm_first
    settled = {Action.CONFIRM: S.ACTIVE, Action.PAUSE: S.PAUSED, Action.RESUME: S.ACTIVE, Action.UNSUBSCRIBE: S.UNSUBSCRIBED}
    return (status, False) if settled[action] == status else None


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", list(Action))
def test_every_status_move_follows_the_table(engine, action, status):
    row = add(engine, status=status)
    before = confirmations(engine, row.id)
    expected = _expected(action, status)
    if expected is None:
        with pytest.raises(InvalidMove, match=f"cannot {action} ada@example.org"):
            change_status(engine, "ada@example.org", action)
        assert row_of(engine, "ada@example.org").status == status
        return
    result = change_status(engine, "ada@example.org", action)
    assert result.row.status == expected[0]
    assert confirmations(engine, row.id) - before == (1 if expected[1] else 0)


def test_nobody_who_unsubscribed_or_bounced_is_active_again_without_confirming(engine):
    for status in (S.UNSUBSCRIBED, S.BOUNCED):
        email = f"{status}@example.org"
        add(engine, email, status=status)
        assert change_status(engine, email, Action.RESUME).row.status == S.PENDING
        with pytest.raises(InvalidMove):
            set_status(engine, email, "paused")
        assert change_status(engine, email, Action.CONFIRM).row.status == S.ACTIVE
    ada = add(engine, status=S.UNSUBSCRIBED)
    with pytest.raises(InvalidMove, match="emails them a new confirmation"):
        set_status(engine, ada.email, "active")  # what `update --status active` used to do unchecked


def test_web_resumes_obey_the_per_address_confirmation_limit(engine):
    ada = add(engine, status=S.UNSUBSCRIBED)
    first = apply_action(engine, ada.id, Action.RESUME, now=NOW)
    second = apply_action(engine, ada.id, Action.RESUME, now=NOW + timedelta(minutes=5))
    later = apply_action(engine, ada.id, Action.RESUME, now=NOW + timedelta(minutes=16))
    assert (first.mail, second.mail, later.mail) == (ConfirmMail.QUEUED, ConfirmMail.LIMITED, ConfirmMail.QUEUED)
    assert confirmations(engine, ada.id) == 2


# ---- the sign-up queue ---------------------------------------------------------------------------------


def signup(engine, email, now=NOW, **fields):
    queue_signup(engine, SubscriberSpec(email=email, **fields), now=now)
    return process_signups(engine, now=now)


def test_a_sign_up_is_one_queued_row_whatever_the_address(engine):
    add(engine, "known@example.org")
    for email in ("new@example.org", "known@example.org"):
        queue_signup(engine, SubscriberSpec(email=email), now=NOW)
    with engine.connect() as conn:
        assert len(list(conn.execute(select(signup_requests.c.id)))) == 2
        assert len(list(conn.execute(select(subscribers.c.id)))) == 1  # nothing else happened yet
    assert process_signups(engine, now=NOW) == 2 and process_signups(engine, now=NOW) == 0
    assert row_of(engine, "new@example.org").status == S.PENDING


def test_each_known_status_is_handled_as_documented(engine):
    pending = add(engine, "pending@example.org", status=S.PENDING, interests="old")
    gone = add(engine, "gone@example.org", status=S.UNSUBSCRIBED, interests="old")
    paused = add(engine, "paused@example.org", status=S.PAUSED, interests="old")
    active = add(engine, "active@example.org", status=S.ACTIVE, interests="old")
    bounced = add(engine, "bounced@example.org", status=S.BOUNCED, interests="old")
    later = NOW + timedelta(minutes=1)
    for row in (pending, gone, paused, active, bounced):
        signup(engine, row.email, now=later, interests="diffusion")
    assert confirmations(engine, pending.id) == 1  # its first one is a minute old: not again yet
    assert (row_of(engine, gone.email).status, row_of(engine, gone.email).interests) == (S.PENDING, "diffusion")
    assert confirmations(engine, gone.id) == 1
    assert (row_of(engine, paused.email).status, row_of(engine, paused.email).interests) == (S.PAUSED, "old")
    assert confirmations(engine, paused.id) == 1  # confirming it resumes them (manage links may have expired)
    assert change_status(engine, paused.email, Action.CONFIRM).row.status == S.ACTIVE
    assert confirmations(engine, active.id) == confirmations(engine, bounced.id) == 0


def test_the_confirmation_limit_holds_across_processes_and_restarts(database_url):
    first, second = open_engine(database_url), open_engine(database_url)  # two processes
    signup(first, "victim@example.org")
    signup(second, "victim@example.org", now=NOW + timedelta(minutes=1))
    first.dispose(), second.dispose()
    restarted = open_engine(database_url)
    signup(restarted, "victim@example.org", now=NOW + timedelta(minutes=2))
    victim = row_of(restarted, "victim@example.org")
    assert confirmations(restarted, victim.id) == 1
    signup(restarted, "victim@example.org", now=NOW + timedelta(minutes=16))
    assert confirmations(restarted, victim.id) == 2
    for minutes in range(30, 300, 16):  # at most 5 a day, however patient the sender
        signup(restarted, "victim@example.org", now=NOW + timedelta(minutes=minutes))
    assert confirmations(restarted, victim.id) == 5
    restarted.dispose()
