"""The manage page's liked papers: list them, remove one, paste arXiv ids to like.

Called from `web.manage` after its signed link, CSRF token and rate limit are checked; the
use cases are `jobs.profiles`. Pasted ids are checked all together: one unknown id names
itself and nothing is liked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from digest.enums import Vote, VoteOrigin
from digest.errors import NotFoundError
from digest.jobs import profiles
from digest.text import rendered
from digest.web.context import Web
from digest.web.forms import UNSTORABLE, FieldError

ACTIONS = ("like_ids", "unlike")
MAX_PASTED = 50  # ids per paste: a reading list, not a library (use `digest subscribers import-library`)
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True, slots=True)
class Shown:
    """One judged paper as the manage page lists it."""

    paper_id: int
    title: str
    label: str  # arXiv id, or our key
    url: str | None


def shown(web: Web, subscriber_id: int) -> dict[str, list[Shown]]:
    """{"liked": [...], "disliked": [...]}, newest first."""
    found: dict[str, list[Shown]] = {"liked": [], "disliked": []}
    for v in profiles.voted_by_id(web.engine, subscriber_id):
        url = f"https://arxiv.org/abs/{v.arxiv_id}" if v.arxiv_id else None
        found["liked" if v.vote == Vote.LIKE else "disliked"].append(
            Shown(v.paper_id, rendered(v.title), v.arxiv_id or v.key, url))
    return found


def apply(web: Web, subscriber_id: int, action: str, form: Any) -> tuple[dict[str, FieldError], str | None]:
    """Run a likes action: (field errors, notice)."""
    if action == "unlike":
        paper = str(form.get("paper", ""))
        if not paper.isascii() or not paper.isdigit():
            return {"ids": FieldError("That paper could not be found.")}, None
        try:
            changed = profiles.vote_on(web.engine, subscriber_id, int(paper), None, origin=VoteOrigin.WEB,
                                       now=web.clock())
        except NotFoundError:
            return {}, "That paper is no longer stored."
        return {}, "Removed: it no longer shapes your digest." if changed else "Nothing changed."
    ids = [token for token in _SEPARATORS.split(str(form.get("ids", ""))) if token]
    if any(UNSTORABLE.search(token) for token in ids):  # PostgreSQL refuses NUL even in a lookup
        return {"ids": FieldError("Remove the control characters (such as NUL) from the ids.")}, None
    if not ids:
        return {"ids": FieldError("Paste one or more arXiv ids or links, e.g. 2607.01234.")}, None
    if len(ids) > MAX_PASTED:
        return {"ids": FieldError(f"At most {MAX_PASTED} papers at a time.")}, None
    try:
        report = profiles.vote_papers_of(web.engine, subscriber_id, ids, Vote.LIKE, origin=VoteOrigin.WEB,
                                         now=web.clock())
    except NotFoundError as err:
        return {"ids": FieldError(_unknown(str(err)))}, None
    count = len(report.paper_ids)
    return {}, f"Liked {count} paper{'' if count == 1 else 's'}: your next digests will rank papers like them higher."


def _unknown(message: str) -> str:
    named = message.split(":", 1)[0].removeprefix("no stored paper ")
    return (f"We have not seen {named} in a listing yet, so nothing was liked. Check the ids, or remove "
            f"the unknown ones and paste again.")
