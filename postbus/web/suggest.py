"""Address suggestions for To, Cc and Bcc while typing: ``GET /compose/suggest?q=...``.

``q`` is the whole field as typed; only its last comma- or semicolon-separated item is looked
up, so suggestions work for the second and third address too. The answer is a fragment of
``<li role="option">`` items for the field's listbox (the page's script shows it and moves
through it with the arrow keys); an empty answer means nothing to suggest.
"""

from __future__ import annotations

import re
from email.utils import formataddr

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from postbus.web.pages import render, signed_in, store_of
from postbus.web.session import SignedIn

MAX_QUERY = 1000
MIN_PREFIX = 1
_SEPARATOR = re.compile(r"[,;]")


def last_item(field: str) -> str:
    """What is being typed now: the text after the last separator, without a quoted name's
    opening quote or an address's opening bracket."""
    return _SEPARATOR.split(field[:MAX_QUERY])[-1].strip().lstrip('"<').strip()


@signed_in
async def suggestions(request: Request, user: SignedIn) -> Response:
    prefix = last_item(request.query_params.get("q", ""))
    found = []
    if len(prefix) >= MIN_PREFIX:
        found = await store_of(request).correspondents(user.account.id, prefix)
    items = [
        {"value": formataddr((c.name, c.address)) if c.name else c.address,
         "name": c.name, "address": c.address}
        for c in found
    ]
    field = request.query_params.get("field", "to")
    field = field if field in ("to", "cc", "bcc") else "to"
    return render(request, "_suggestions.html", {"items": items, "field": field})


routes = [Route("/compose/suggest", suggestions, methods=["GET"])]
