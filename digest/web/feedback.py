""""More / less like this": `GET` and `POST /feedback/{token}?p=<paper id>&v=more|less`.

The token is the subscriber's feedback link, signed and bound to them like every link
(see `digest.links.feedback_url`); the paper and the vote are the reader's choice. Link
scanners fetch every URL in an email, so `GET` only shows a one-button page and changes
nothing; `POST` records the like or dislike and says so. Like the one-click unsubscribe,
the POST needs no cookie: the signed token in the URL is the authorisation.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from sqlalchemy import Row
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest.enums import Vote, VoteOrigin
from digest.errors import NotFoundError
from digest.jobs import profiles, rate_limits
from digest.jobs.subscribers import LinkGone
from digest.models import Paper
from digest.text import display_title
from digest.tokens import BadToken
from digest.web.context import Web

VOTES = {"more": Vote.LIKE, "less": Vote.DISLIKE}


@dataclass(frozen=True, slots=True)
class _Ask:
    row: Row
    paper: Paper
    vote: str


# Long by design: FastAPI routes are closures over `web`; each route is short, and the factory
# is as long as the routes it holds.
def router(web: Web) -> APIRouter:
    routes = APIRouter()

    def resolve(request: Request, token: str) -> _Ask | HTMLResponse:
        """What the link asks for, or the error page (blocking: call in a thread)."""
        vote = request.query_params.get("v", "")
        paper_id = request.query_params.get("p", "")
        if vote not in VOTES or not paper_id.isascii() or not paper_id.isdigit() or len(paper_id) > 18:
            return web.error(request, 400, "This link does not work",
                             "It may have been cut short by your email program. Nothing was changed.")
        try:
            row = web.link_subject("feedback", token)
        except BadToken as err:
            return web.error(request, 400, "This link has expired" if err.expired else "This link does not work",
                             "Use the links in a recent digest. Nothing was changed.")
        except LinkGone:
            return web.error(request, 404, "No such subscription", "This address is no longer on our list.")
        paper = profiles.paper_for_feedback(web.engine, int(paper_id), subscriber_id=row.id)
        if paper is None:
            return web.error(request, 404, "No such paper", "This paper is no longer stored. Nothing was changed.")
        return _Ask(row, paper, vote)

    @routes.get("/feedback/{token}", response_class=HTMLResponse)
    def feedback_form(request: Request, token: str) -> HTMLResponse:
        asked = resolve(request, token)
        if isinstance(asked, HTMLResponse):
            return asked
        return web.page(request, "feedback.html", title=display_title(asked.paper), vote=asked.vote,
                        action=str(request.url.path) + "?" + str(request.url.query))

    @routes.post("/feedback/{token}", response_class=HTMLResponse)
    def feedback(request: Request, token: str) -> HTMLResponse:
        asked = resolve(request, token)
        if isinstance(asked, HTMLResponse):
            return asked
        limited = web.limited(request, rate_limits.FEEDBACK_POSTS, key=f"subscriber:{asked.row.id}")
        if limited is not None:
            return limited
        try:
            changed = profiles.vote_on(web.engine, asked.row.id, asked.paper.id, VOTES[asked.vote],
                                       origin=VoteOrigin.EMAIL, now=web.clock())
        except NotFoundError:
            return web.error(request, 404, "No such paper", "This paper is no longer stored. Nothing was changed.")
        return web.page(request, "feedback_saved.html", title=display_title(asked.paper), vote=asked.vote,
                        changed=changed)

    return routes

