"""RFC 5256 §2.1 base subject, for SORT (SUBJECT) and THREAD (ORDEREDSUBJECT, REFERENCES).

The case of the text is kept; compare base subjects with i;unicode-casemap (``casefold()``).
"""

from __future__ import annotations

import re

MAX_SUBJECT_CHARS = 4096  # longer subjects are cut first: no quadratic work on hostile input

_WSP = re.compile(r"\s+")
# subj-blob = "[" *BLOBCHAR "]" *WSP ; BLOBCHAR = %x01-5a / %x5c / %x5e-ff (not "[" or "]")
_BLOB = r"\[[^\[\]]*\] *"
# subj-leader = (*subj-blob subj-refwd) / WSP
# subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
_LEADER = re.compile(rf"(?: +|(?:{_BLOB})*(?:re|fwd?) *(?:{_BLOB})?:)", re.IGNORECASE)
_LEADING_BLOB = re.compile(_BLOB)


def base_subject(subject: str) -> str:
    """The base subject of a decoded Subject value (RFC 5256 §2.1, steps 1-7)."""
    # (1) RFC 2047 decoding is done by the caller; tabs and runs of WSP become one space.
    s = _WSP.sub(" ", subject[:MAX_SUBJECT_CHARS])
    while True:
        # (2) Remove trailing subj-trailer = "(fwd)" / WSP, repeatedly.
        while True:
            t = s.rstrip(" ")
            if t[-5:].lower() == "(fwd)":
                t = t[:-5]
            if t == s:
                break
            s = t
        # (5) Repeat (3) and (4) until nothing changes.
        while True:
            before = s
            # (3) Remove all prefix text matching subj-leader.
            while (m := _LEADER.match(s)) is not None and m.end() > 0:
                s = s[m.end() :]
            # (4) Remove a leading subj-blob if what remains is a non-empty subj-base.
            m = _LEADING_BLOB.match(s)
            if m is not None and s[m.end() :].strip(" "):
                s = s[m.end() :]
            if s == before:
                break
        # (6) subj-fwd = "[fwd:" subj-base "]": unwrap and start again at (2).
        if s[:5].lower() == "[fwd:" and s.endswith("]"):
            s = s[5:-1]
            continue
        # (7) What is left is the base subject.
        return s.strip(" ")
