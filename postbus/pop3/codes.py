"""Every POP3 reply this server sends: status indicators, response codes and texts, in one place.

A reply is ``+OK text`` or ``-ERR [CODE] text`` (RFC 1939 §3, RFC 2449 §8). The response codes
are the ones RFC 2449 §8.1 and RFC 3206 define; clients act on them (an [AUTH] failure asks the
user for a new password, [SYS/TEMP] retries later, [IN-USE] waits for the other session).
"""

from __future__ import annotations

from dataclasses import dataclass

OK = b"+OK"
ERR = b"-ERR"

# RFC 2449 §8.1.1 LOGIN-DELAY, §8.1.2 IN-USE; RFC 3206 §4 SYS/TEMP, SYS/PERM, §5 AUTH.
IN_USE = "IN-USE"
AUTH = "AUTH"
SYS_TEMP = "SYS/TEMP"
SYS_PERM = "SYS/PERM"


@dataclass(frozen=True, slots=True)
class Reply:
    """One single-line reply: ``+OK text`` or ``-ERR [code] text``."""

    ok: bool
    text: str
    code: str | None = None

    def to_bytes(self) -> bytes:
        status = OK if self.ok else ERR
        code = f"[{self.code}] " if self.code else ""
        return status + b" " + f"{code}{self.text}".encode() + b"\r\n"


def ok(text: str) -> Reply:
    return Reply(True, text)


def err(text: str, code: str | None = None) -> Reply:
    return Reply(False, text, code)


# -- greeting and session end (RFC 1939 §4, §6) ----------------------------------------------
GREETING = ok("postbus POP3 server ready")
BYE = ok("postbus POP3 server signing off")
IDLE_TIMEOUT = err("Disconnected for inactivity")
TOO_MANY_CONNECTIONS = err("Too many connections, try again later", SYS_TEMP)
SHUTTING_DOWN = err("Server shutting down", SYS_TEMP)
INTERNAL_ERROR = err("Internal server error, try again later", SYS_TEMP)

# -- command syntax (RFC 1939 §3) -------------------------------------------------------------
UNKNOWN_COMMAND = err("Unknown command")
NOT_NOW = err("Command not valid in this state")
BAD_SYNTAX = err("Syntax error in arguments")
LINE_TOO_LONG = err("Line too long")
BAD_MESSAGE_NUMBER = err("Invalid message number")

# -- capabilities and TLS (RFC 2449 §5, RFC 2595 §4) -----------------------------------------
CAPA_FOLLOWS = ok("Capability list follows")
STLS_GO = ok("Begin TLS negotiation now")
STLS_UNAVAILABLE = err("STLS not available")
ALREADY_TLS = err("Already using TLS")

# -- sign-in (RFC 1939 §7, RFC 5034, RFC 3206) ------------------------------------------------
USER_OK = ok("Send your password")
PASS_WITHOUT_USER = err("Send USER first")
PLAINTEXT_REFUSED = err("Sign-in is allowed only over TLS: use STLS or port 995", AUTH)
# One answer for an unknown user and a wrong password (design.md "Sign-in").
LOGIN_FAILED = err("Authentication failed", AUTH)
# RFC 3206 §4: the refusal is temporary (the throttle's window), not a credentials problem.
LOGIN_BLOCKED = err("Too many failed sign-ins, try again later", SYS_TEMP)
# RFC 3206 §4: retrying will not help; the administrator must act.
ACCOUNT_DISABLED = err("This account is disabled", SYS_PERM)
# RFC 2449 §8.1.2: another session holds the maildrop.
MAILDROP_IN_USE = err("Mailbox is locked by another POP3 session", IN_USE)
MAILDROP_UNAVAILABLE = err("Mailbox is not available, try again later", SYS_TEMP)
UNKNOWN_MECHANISM = err("Unsupported authentication mechanism")
AUTH_CANCELLED = err("Authentication cancelled")
BAD_SASL = err("Invalid SASL response", AUTH)
APOP_UNSUPPORTED = err("APOP is not supported")
SASL_CONTINUE = b"+ \r\n"  # RFC 5034 §4: an empty server challenge for PLAIN

# -- the maildrop (RFC 1939 §5) ---------------------------------------------------------------
NO_SUCH_MESSAGE = err("No such message")
ALREADY_DELETED = err("Message is already deleted")
MESSAGE_GONE = err("Message was removed by another session")
NOOP_OK = ok("")
MESSAGE_FOLLOWS = ok("Message follows")
UIDL_FOLLOWS = ok("Unique-ID listing follows")
AUTH_MECHANISMS = ok("Supported mechanisms follow")
COMMIT_FAILED = err("Some deleted messages were not removed", SYS_TEMP)


def logged_in(count: int, size: int) -> Reply:
    return ok(f"Logged in, {count} messages ({size} octets)")


def deleted(number: int) -> Reply:
    return ok(f"Message {number} deleted")


def reset(count: int, size: int) -> Reply:
    return ok(f"Maildrop has {count} messages ({size} octets)")


def stat(count: int, size: int) -> Reply:
    # RFC 1939 §5 STAT: exactly "+OK nn mm".
    return ok(f"{count} {size}")


def scan_listing(number: int, size: int) -> Reply:
    # RFC 1939 §5 LIST: "+OK msg octets".
    return ok(f"{number} {size}")


def listing_follows(count: int, size: int) -> Reply:
    return ok(f"{count} messages ({size} octets)")


def message_follows(size: int) -> Reply:
    return ok(f"{size} octets")


def unique_id(number: int, uid: str) -> Reply:
    # RFC 1939 §7 UIDL: "+OK msg unique-id".
    return ok(f"{number} {uid}")


def signing_off(left: int) -> Reply:
    return ok(f"postbus POP3 server signing off ({left} messages left)")
