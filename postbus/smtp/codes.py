"""Every SMTP reply the listeners send, as named constants with the RFC that defines each.

A reply is ``<code> <enhanced status> <text>``: the three-digit code of RFC 5321 §4.2 and the
enhanced status code of RFC 3463 (advertised as ENHANCEDSTATUSCODES, RFC 2034). aiosmtpd's own
stock replies carry no enhanced code; ``enhance`` adds one (RFC 2034 §3 wants it on every 2xx,
4xx and 5xx reply after EHLO) and rewrites the few whose text we want to be our own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    status: str  # RFC 3463 enhanced status code, "" for replies that carry none (220, 334, 354)
    text: str

    def __str__(self) -> str:
        if not self.status:
            return f"{self.code} {self.text}"
        return f"{self.code} {self.status} {self.text}"

    def with_text(self, text: str) -> Reply:
        return replace(self, text=text)

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 400


# -- session (RFC 5321 §3.1, §3.8, §4.2.3) ---------------------------------------------------
IDENT = "ESMTP postbus"  # the greeting is "220 <hostname> ESMTP postbus"; no version shown
OK = Reply(250, "2.0.0", "OK")
# RFC 5321 §3.8, RFC 3463 X.7.0: refused at connect, the client should try again later.
TOO_MANY_CONNECTIONS = Reply(421, "4.7.0", "Too many connections from your address, try later")
# RFC 5321 §3.8, RFC 3463 X.3.2 "system not accepting network messages".
SERVER_FULL = Reply(421, "4.3.2", "Too many connections, try again later")
# RFC 3463 X.3.0: anything unexpected; the client retries, nothing was accepted.
TEMP_FAILURE = Reply(451, "4.3.0", "Internal server error, try again later")
# design.md "commands per second" (limits.commands_per_second), RFC 3463 X.7.0; RFC 5321 §3.8:
# a server that closes the connection first says 421.
TOO_MANY_COMMANDS = Reply(421, "4.7.0", "Too many commands, closing connection")
# RFC 5321 §2.3.8: a command line ends in CRLF and holds no other CR or LF. Postfix's
# smtpd_forbid_bare_newline = yes answers "Error: bare <LF> received" and disconnects.
BARE_LF_COMMAND = Reply(500, "5.5.2", "Error: bare <LF> received")
BARE_CR_COMMAND = Reply(500, "5.5.2", "Error: bare <CR> received")

# -- MAIL (RFC 5321 §4.1.1.2) ----------------------------------------------------------------
SENDER_OK = Reply(250, "2.1.0", "Sender OK")
# Messages per client address per minute; RFC 3463 X.7.1 policy, 451 so the sender retries.
RATE_LIMITED = Reply(451, "4.7.1", "Too many messages from your address, try again later")
# RFC 6409 §6.1: an MSA may refuse a sender the authenticated user does not own.
SENDER_NOT_YOURS = Reply(553, "5.7.1", "Sender address is not one of your addresses")
# RFC 1870 §6.1 and RFC 3463 X.3.4: SIZE over the limit, or more data than the limit.
MESSAGE_TOO_BIG = Reply(552, "5.3.4", "Message size exceeds fixed maximum message size")

# -- RCPT (RFC 5321 §4.1.1.3) ----------------------------------------------------------------
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient OK")
# RFC 3463 X.1.1 "bad destination mailbox address": one of our domains, no such user.
UNKNOWN_USER = Reply(550, "5.1.1", "No such user here")
# RFC 3463 X.7.1 "delivery not authorized": not our domain and not authenticated (no relay).
RELAY_DENIED = Reply(550, "5.7.1", "Relaying denied")
# RFC 2505 §2.6.1 (no % or ! routing), RFC 5321 §4.1.1.3 (routes are ignored, never relayed):
# %, ! and quoted local parts would route elsewhere at some other MTA; we never pass them on.
ROUTING_DENIED = Reply(550, "5.7.1", "Relaying denied: %, ! and quoted local parts are refused")
# RFC 5321 §4.5.3.1.10: 452 for too many recipients; RFC 3463 X.5.3.
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")
# RFC 5321 §4.2.2 552 "exceeded storage allocation"; RFC 3463 X.2.2 "mailbox full".
OVER_QUOTA = Reply(552, "5.2.2", "Mailbox full")
# RFC 3463 X.2.1 "mailbox disabled, not accepting messages".
MAILBOX_DISABLED = Reply(550, "5.2.1", "Mailbox disabled")

# -- DATA (RFC 5321 §4.1.1.4) ----------------------------------------------------------------
MESSAGE_ACCEPTED = Reply(250, "2.0.0", "Message accepted for delivery")
# RFC 5321 §2.3.8: CR and LF only as CRLF. Postfix's smtpd_forbid_bare_newline answers
# "550 5.5.2 Error: bare <LF> received"; we refuse bare CR the same way (SMTP smuggling).
BARE_NEWLINE = Reply(550, "5.5.2", "Error: bare <CR> or <LF> received")
# RFC 5321 §4.5.3.1.6 text line limit (ours is limits.smtp_max_line_length); RFC 3463 X.5.2.
LINE_TOO_LONG = Reply(500, "5.5.2", "Line too long")
# RFC 3463 X.7.1: refused by the sender-authentication verdict (DMARC p=reject and the like).
POLICY_REJECTED = Reply(550, "5.7.1", "Message refused by policy")
# RFC 6409 §6.1 / RFC 3463 X.7.1: the From header names someone the user is not.
FROM_NOT_YOURS = Reply(553, "5.7.1", "From header is not one of your addresses")

# -- AUTH (RFC 4954 §6) and STARTTLS (RFC 3207 §4) -------------------------------------------
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")
AUTH_INVALID = Reply(535, "5.7.8", "Authentication credentials invalid")
AUTH_BLOCKED = Reply(454, "4.7.0", "Temporary authentication failure, try again later")
AUTH_DISABLED = Reply(535, "5.7.8", "Account disabled")
AUTH_REQUIRED = Reply(530, "5.7.0", "Authentication required")
STARTTLS_FIRST = Reply(530, "5.7.0", "Must issue a STARTTLS command first")
# Port 25 takes no AUTH: RFC 4954 §4, a server that does not offer AUTH answers 503.
AUTH_NOT_HERE = Reply(503, "5.5.1", "Authentication not enabled on this port")
AUTH_SYNTAX = Reply(501, "5.5.2", "Cannot decode the authentication data")

# -- aiosmtpd's stock replies ------------------------------------------------------------------

_HAS_STATUS = re.compile(r"\d{3}[ -][245]\.\d{1,3}\.\d{1,3}( |$)")
# aiosmtpd's texts that we replace whole (matched by prefix).
_REWRITE: tuple[tuple[str, Reply], ...] = (
    ("500 Command line too long", LINE_TOO_LONG),
    ("500 Line too long", LINE_TOO_LONG),
    ("552 Error: Too much mail data", MESSAGE_TOO_BIG),
    ("552 Error: message size exceeds", MESSAGE_TOO_BIG),
    ("530 Must issue a STARTTLS command first", STARTTLS_FIRST),
    ("538 5.7.11", STARTTLS_FIRST),
    ("500 Error: command", Reply(500, "5.5.1", "Command not recognized")),
    ("500 Error: bad syntax", Reply(500, "5.5.2", "Syntax error")),
    ("500 Error: strict ASCII mode", Reply(500, "5.5.2", "Non-ASCII text without SMTPUTF8")),
    ("501 Not enough value", Reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]")),
    ("501 Too many values", Reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]")),
    ("503 Already authenticated", Reply(503, "5.5.1", "Already authenticated")),
    ("554 Command refused due to lack of security", Reply(554, "5.7.0", "TLS handshake failed")),
)
# RFC 3463 §3.6 and §3.8: the enhanced code that fits each stock reply code.
_DEFAULT_STATUS = {
    221: "2.0.0", 250: "2.0.0", 252: "2.0.0", 235: "2.7.0", 421: "4.3.0", 451: "4.3.0",
    454: "4.7.0", 500: "5.5.2", 501: "5.5.4", 502: "5.5.1", 503: "5.5.1", 504: "5.5.4",
    530: "5.7.0", 535: "5.7.8", 550: "5.0.0", 552: "5.3.4", 553: "5.1.3", 554: "5.0.0",
    555: "5.5.4",
}  # fmt: skip


def enhance(line: str) -> str:
    """An aiosmtpd stock reply with an enhanced status code; our own replies pass unchanged."""
    for prefix, reply in _REWRITE:
        if line.startswith(prefix):
            return str(reply)
    # isascii: str.isdigit() is true for "²" and other digits int() does not read.
    if len(line) < 4 or not (line[:3].isascii() and line[:3].isdigit()) or _HAS_STATUS.match(line):
        return line
    status = _DEFAULT_STATUS.get(int(line[:3]))
    if status is None:  # 220, 334, 354: RFC 2034 §3 exempts greetings and intermediate replies
        return line
    text = line[4:].removeprefix("Error: ")
    return f"{line[:3]}{line[3]}{status} {text}"
