"""The search page: the words of the box (with its ``key:value`` syntax, ``query.py``) and
the filter fields, combined; results 50 a page, newest first, across folders or in one.

Dates are days in the reader's time zone (the ``pb_tz`` cookie); the store gets epoch
seconds, so it never needs to know about time zones.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postbus.store.finder import Criteria
from postbus.web import formats, query
from postbus.web.mail import Row, int_param
from postbus.web.pages import navigation, render, signed_in, store_of
from postbus.web.session import SignedIn

RESULTS_PER_PAGE = 50
MAX_PAGE = 200
MAX_FIELD = 200
FIELDS = ("q", "from", "to", "subject", "has", "after", "until", "in")


def _midnight(day: date, zone: tzinfo) -> int:
    return int(datetime.combine(day, time(), tzinfo=zone).timestamp())


def form_query(params: dict[str, str]) -> query.Query:
    """The filter fields of the search form; "until" includes its day."""
    until = query.parse_date(params.get("until", ""))
    return query.Query(
        sender=params.get("from", "").strip(),
        recipient=params.get("to", "").strip(),
        subject=params.get("subject", "").strip(),
        attachment=params.get("has") == "attachment",
        after=query.parse_date(params.get("after", "")),
        before=until + timedelta(days=1) if until else None,
    )


def criteria_of(wanted: query.Query, zone: tzinfo, mailbox_id: int | None) -> Criteria:
    return Criteria(
        words=wanted.words,
        sender=wanted.sender,
        recipient=wanted.recipient,
        subject=wanted.subject,
        attachment=wanted.attachment,
        since=_midnight(wanted.after, zone) if wanted.after else None,
        before=_midnight(wanted.before, zone) if wanted.before else None,
        mailbox_id=mailbox_id,
    )


def _page_link(params: dict[str, str], page: int) -> str:
    kept = {name: params[name] for name in FIELDS if params.get(name)}
    if page > 1:
        kept["page"] = str(page)
    return "/search?" + urlencode(kept)


@signed_in
async def search(request: Request, user: SignedIn) -> Response:
    params = {name: request.query_params.get(name, "")[:MAX_FIELD] for name in FIELDS}
    folders = await navigation(request, user)
    labels = {f.id: f.label for f in folders}
    in_folder = int_param(params["in"] or None)
    if in_folder not in labels:
        in_folder = None
        params["in"] = ""
    page = min(max(int_param(request.query_params.get("page")) or 1, 1), MAX_PAGE)
    wanted = query.combine(query.parse(params["q"]), form_query(params))
    zone = formats.time_zone(request.cookies.get(formats.TZ_COOKIE))
    criteria = criteria_of(wanted, zone, in_folder)
    asked = not criteria.is_empty()
    rows: list[Row] = []
    more = False
    if asked:
        found = await store_of(request).find(
            user.account.id, criteria, RESULTS_PER_PAGE + 1, (page - 1) * RESULTS_PER_PAGE
        )
        more = len(found) > RESULTS_PER_PAGE
        rows = [Row(hit.summary, hit.mailbox_id, labels.get(hit.mailbox_id, ""))
                for hit in found[:RESULTS_PER_PAGE]]
    return render(request, "search.html", {
        "folders": folders, "folder": None, "rows": rows, "query": params["q"],
        "params": params, "asked": asked, "page": page,
        "first": (page - 1) * RESULTS_PER_PAGE + 1 if rows else 0,
        "last": (page - 1) * RESULTS_PER_PAGE + len(rows),
        "newer_link": _page_link(params, page - 1) if page > 1 else None,
        "older_link": _page_link(params, page + 1) if more else None,
        "filtered": any(params[name] for name in FIELDS if name != "q"),
    })


routes = [
    Route("/search", search, methods=["GET"]),
]
