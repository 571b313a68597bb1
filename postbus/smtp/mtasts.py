"""MTA-STS (RFC 8461), the pure part: the ``_mta-sts`` TXT record, the policy file, MX matching.

Sans-IO: text in, values out; no DNS, no HTTPS, no clock. ``mtasts_discovery.py`` looks the
record up, fetches the policy and keeps it; ``outbound.py`` applies it. The other way round,
``policy_text`` and ``record_text`` write our own policy (served by ``postbus.web.mta_sts``,
announced by ``postbus domain add``).

Invariants:
- The parsers follow the ABNF of RFC 8461 §3.1 and §3.2 strictly; anything else raises
  ``StsError`` (and nothing else): a domain whose record or policy does not parse has no
  usable policy, which is the same as having none (§3.1, §3.3).
- Host names are compared in lower-case A-label form without a final dot.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_AGE_LIMIT",
    "Mode",
    "Policy",
    "StsError",
    "parse_policy",
    "parse_record",
    "policy_id",
    "policy_text",
    "published_policy",
    "record_text",
    "select_record",
]

MAX_AGE_LIMIT = 31_557_600  # RFC 8461 §3.2: max_age is at most one year


class StsError(ValueError):
    """A record or policy that breaks RFC 8461; str() says what, for the log."""


class Mode(enum.Enum):
    ENFORCE = "enforce"  # deliver only over verified TLS to a listed MX (§5)
    TESTING = "testing"  # deliver as usual, report what would have failed (§5)
    NONE = "none"  # the domain has switched MTA-STS off (§8.3)


@dataclass(frozen=True, slots=True)
class Policy:
    mode: Mode
    max_age: int  # seconds the policy may be kept after it was fetched
    mx: tuple[str, ...]  # patterns, lower-case: "mx1.example.org" or "*.example.org"

    def matches(self, host: str) -> bool:
        """Whether MX host ``host`` is one the policy allows (RFC 8461 §4.1)."""
        host = host.lower().rstrip(".")
        for pattern in self.mx:
            if pattern.startswith("*."):
                # §4.1: the wildcard stands for exactly one label, the left-most one.
                label, _, parent = host.partition(".")
                if label and parent == pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False


# -- the TXT record (RFC 8461 §3.1) ------------------------------------------------------------
#
#   sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
#   sts-field-delim = *WSP ";" *WSP
#   sts-version     = %s"v=STSv1"
#   sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
#   sts-extension   = sts-ext-name "=" sts-ext-value
#   sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
#   sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)   ; VCHAR but "=" and ";"

_VERSION = "v=STSv1"
_DELIM = re.compile(r"[ \t]*;[ \t]*")
_RECORD_FIELD = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]{0,31})=([\x21-\x3a\x3c\x3e-\x7e]+)\Z")
_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
_STS_RECORD = re.compile(r"v=STSv1[ \t]*(;|\Z)")


def parse_record(text: str) -> str:
    """The policy id of one ``_mta-sts`` TXT record (its strings already joined)."""
    if not text.startswith(_VERSION):
        raise StsError("the record does not begin with v=STSv1")
    parts = _DELIM.split(text[len(_VERSION) :])
    if parts[0] != "" or len(parts) < 2:
        raise StsError("v=STSv1 must be followed by ';' and a field")
    if parts[-1] == "":  # the optional final delimiter
        parts.pop()
    record_id = None
    for part in parts[1:]:
        match = _RECORD_FIELD.match(part)
        if not match:
            raise StsError(f"bad field {part[:40]!r}")
        name, value = match.groups()
        if name == "id" and record_id is None:  # §3.2 (last paragraph): the first one counts
            if not _ID.match(value):
                raise StsError(f"bad id {value[:40]!r}: 1 to 32 letters and digits")
            record_id = value
    if record_id is None:
        raise StsError("the record has no id")
    return record_id


def select_record(records: Sequence[str]) -> str | None:
    """The policy id the TXT records of ``_mta-sts.<domain>`` announce, or None for "no policy".

    RFC 8461 §3.1: records that do not begin with "v=STSv1;" are discarded; unless exactly one
    is left and it parses, the domain has no available policy.
    """
    candidates = [text for text in records if _STS_RECORD.match(text)]
    if len(candidates) != 1:
        return None
    try:
        return parse_record(candidates[0])
    except StsError:
        return None


# -- the policy (RFC 8461 §3.2) ----------------------------------------------------------------
#
#   sts-policy-record        = sts-policy-field *WSP
#                              *(sts-policy-term sts-policy-field *WSP) [sts-policy-term]
#   sts-policy-field-delim   = ":" *WSP
#   sts-policy-version-value = %s"STSv1"
#   sts-policy-mode-value    = %s"testing" / %s"enforce" / %s"none"
#   sts-policy-mx-value      = ["*."] Domain                 ; RFC 5321 Domain, A-labels
#   sts-policy-max-age-value = 1*10(DIGIT)
#   sts-policy-ext-name      = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
#   sts-policy-ext-value     = sts-policy-vchar [*(%x20 / sts-policy-vchar) sts-policy-vchar]
#   sts-policy-term          = LF / CRLF
#   sts-policy-vchar         = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4

_POLICY_FIELD = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]{0,31}):[ \t]*(.*?)[ \t]*\Z", re.DOTALL)
_EXT_VALUE = re.compile(r"[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?\Z")
# RFC 5321 §4.1.2: sub-domain = Let-dig [Ldh-str]; RFC 1035: labels of at most 63 octets.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MX_PATTERN = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*\Z")
_MAX_AGE = re.compile(r"[0-9]{1,10}\Z")
_REQUIRED = ("version", "mode", "max_age")


def parse_policy(body: bytes | str) -> Policy:
    """The policy served at https://mta-sts.<domain>/.well-known/mta-sts.txt."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise StsError("the policy is not UTF-8") from None
    if not body:
        raise StsError("the policy is empty")
    if body.endswith("\n"):  # the optional final sts-policy-term
        body = body[:-1].removesuffix("\r")
    seen: dict[str, str] = {}
    mx: list[str] = []
    for number, line in enumerate(body.split("\n"), 1):
        line = line.removesuffix("\r")  # CRLF or LF
        match = _POLICY_FIELD.match(line)
        if not match:
            raise StsError(f"line {number}: not 'name: value': {line[:60]!r}")
        name, value = match.groups()
        if name == "mx":
            if not _MX_PATTERN.match(value) or len(value) > 253:
                raise StsError(f"line {number}: bad mx pattern {value[:60]!r}")
            mx.append(value.lower())
            continue
        if not _EXT_VALUE.match(value):
            raise StsError(f"line {number}: bad value for {name}: {value[:60]!r}")
        # §3.2: of a field given more than once (mx excepted) only the first is used.
        seen.setdefault(name, value)
    missing = [name for name in _REQUIRED if name not in seen]
    if missing:
        raise StsError("the policy lacks " + ", ".join(missing))
    if seen["version"] != "STSv1":
        raise StsError(f"unknown version {seen['version'][:20]!r}")
    try:
        mode = Mode(seen["mode"])
    except ValueError:
        raise StsError(f"unknown mode {seen['mode'][:20]!r}") from None
    if not _MAX_AGE.match(seen["max_age"]) or int(seen["max_age"]) > MAX_AGE_LIMIT:
        raise StsError(f"max_age must be 0 to {MAX_AGE_LIMIT} seconds: {seen['max_age'][:20]!r}")
    if not mx and mode is not Mode.NONE:
        raise StsError(f"a policy in mode {mode.value} must name its mx hosts")
    return Policy(mode, int(seen["max_age"]), tuple(mx))


# -- our own policy, the other way round --------------------------------------------------------


def policy_text(mode: Mode, mx: Sequence[str], max_age: int) -> str:
    """The policy we serve for our own domains: §3.2 fields, one a line, CRLF-terminated."""
    lines = ["version: STSv1", f"mode: {mode.value}", *(f"mx: {host}" for host in mx)]
    return "\r\n".join([*lines, f"max_age: {max_age}", ""])


def published_policy(mode: str, mx_host: str, max_age: int) -> str | None:
    """The policy we publish for every domain of ours (config ``[mta_sts]``, mx our host name),
    or None in mode "none", when we publish nothing."""
    if mode == Mode.NONE.value:
        return None
    return policy_text(Mode(mode), (mx_host,), max_age)


def policy_id(text: str) -> str:
    """A record id for ``text`` (§3.1: 1 to 32 letters and digits) that changes with it, so
    senders fetch the policy again whenever it changes (§3.3)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def record_text(text: str) -> str:
    """The ``_mta-sts.<domain>`` TXT record announcing policy ``text`` (§3.1)."""
    return f"{_VERSION}; id={policy_id(text)}"
