"""Our own MTA-STS policy (RFC 8461 §3.2), for senders that deliver to our domains.

``GET https://mta-sts.<domain>/.well-known/mta-sts.txt`` answers with the policy in
``[mta_sts]`` (mode, max_age; mx is ``server.hostname``) for each domain we receive mail for;
any other host, an unknown domain, or mode "none" gets 404. The text comes from
``postbus.smtp.mtasts.published_policy``, the same function ``postbus domain add`` hashes for
the id of the TXT record it prints, so record and policy cannot disagree.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from postbus.smtp.mtasts import published_policy
from postbus.store import StoreError
from postbus.web.pages import store_of

PATH = "/.well-known/mta-sts.txt"  # RFC 8461 §3.2
HOST_PREFIX = "mta-sts."  # §3.3: the policy host is mta-sts.<domain>


def _policy_domain(host_header: str) -> str | None:
    """``mta-sts.example.org:443`` -> ``example.org``; None for any other host."""
    host = host_header.strip().lower()
    if host.startswith("["):  # an IPv6 literal is never a policy host
        return None
    host = host.partition(":")[0].rstrip(".")
    if not host.startswith(HOST_PREFIX) or len(host) == len(HOST_PREFIX):
        return None
    return host[len(HOST_PREFIX) :]


async def policy(request: Request) -> Response:
    config = request.app.state.service.config
    text = published_policy(config.mta_sts.mode, config.server.hostname, config.mta_sts.max_age)
    domain = _policy_domain(request.headers.get("host", ""))
    if text is None or domain is None:
        raise HTTPException(404)
    try:
        await store_of(request).get_domain(domain)
    except StoreError:  # not a domain of ours, or not a domain name at all
        raise HTTPException(404) from None
    # §3.2: media type text/plain; PlainTextResponse adds charset=utf-8, which senders accept.
    return PlainTextResponse(text)


routes = [Route(PATH, policy, methods=["GET"])]
