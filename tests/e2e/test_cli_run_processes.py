"""`digest run --processes N`: the real command, sender processes, a real aiosmtpd server."""

from __future__ import annotations

import collections

QUERIES = {
    "ada@example.org": '"token pooling" OR normalization -medical',
    "bob@example.org": "pruning, data filtering",
    "cyd@example.org": "title:diffusion",
    "dee@example.org": "zzzunmatched",
}


def stock(cli, samples) -> None:
    for name in ("hf-listing-compact.txt", "hf-listing-with-metadata.txt", "hf-listing-plain.txt"):
        assert cli("ingest", str(samples / "snapshots" / name)).exit_code == 0
    for address, query in QUERIES.items():
        assert cli("subscribers", "add", address, "--keywords", query, "--confirmed").exit_code == 0


def test_run_with_two_processes_sends_each_digest_once(cli, samples, mail_env):
    stock(cli, samples)
    ran = cli("run", "--now", "--processes", "2", "--json")
    assert ran.exit_code == 0, ran.stderr
    figures = ran.json()
    assert figures["processes"] == 2
    assert figures["planned"] == figures["sent"] == 3 and figures["skipped_empty"] == 1
    received = collections.Counter(m.rcpt_tos[0] for m in mail_env.handler.messages)
    assert received == {address: 1 for address in QUERIES if address != "dee@example.org"}
    again = cli("run", "--now", "--processes", "2", "--json").json()
    assert again["planned"] == 0 and again["sent"] == 0
    assert len(mail_env.handler.messages) == 3


def test_a_small_list_is_sent_from_this_process_by_default(cli, samples, mail_env):
    stock(cli, samples)
    figures = cli("run", "--now", "--json").json()
    assert figures["processes"] == 1 and figures["sent"] == 3


def test_processes_must_be_positive(cli):
    ran = cli("run", "--processes", "0")
    assert ran.exit_code != 0 and "--processes" in ran.stderr


def test_a_run_that_plans_in_a_planner_process_sends_each_digest_once(cli, samples, mail_env, monkeypatch):
    from digest.jobs import planner_process

    stock(cli, samples)
    monkeypatch.setattr(planner_process, "PLAN_APART_FROM", 1)  # as from 2,000 subscribers
    ran = cli("run", "--now", "--json")
    assert ran.exit_code == 0, ran.stderr
    figures = ran.json()
    assert figures["processes"] == 1 and figures["planned"] == figures["sent"] == 3 and figures["skipped_empty"] == 1
    received = collections.Counter(m.rcpt_tos[0] for m in mail_env.handler.messages)
    assert received == {address: 1 for address in QUERIES if address != "dee@example.org"}
