"""THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 §3, §2.2), and the THREAD response.

Pure code: the caller hands in one ``ThreadMessage`` per matching message, in mailbox order,
with the Message-ID, the references (References, else the first In-Reply-To id), the sent
date and the base subject. The algorithms return the top-level ``Node``s; ``format_threads``
writes them as RFC 5256 §4 thread-lists.

Invariants:
- Every step walks the tree with explicit stacks, so a hostile chain of a million replies
  cannot exhaust Python's recursion limit.
- Message-ID comparisons are case-sensitive; subject comparisons are not (RFC 5256 §2.2, §7).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# subj-refwd and friends (RFC 5256 §5) at the start, "(fwd)" at the end, or "[fwd: ...]":
# a subject that had any of these removed is a reply or forward (§2.1, used by §2.2 step 5).
_REPLY = re.compile(r"\s*(?:\[[^\[\]]*\]\s*)*(?:re|fwd?)\s*(?:\[[^\[\]]*\])?:", re.IGNORECASE)


def is_reply_or_forward(subject: str) -> bool:
    text = subject.strip()
    return bool(
        _REPLY.match(text) or text.lower().endswith("(fwd)") or text[:5].lower() == "[fwd:"
    )


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    number: int  # what the response names: a sequence number or a UID
    order: int  # position in the mailbox (UID): the tie-break of equal dates
    message_id: str | None
    references: tuple[str, ...]
    sent: int  # RFC 5256 §2.2 sent date: the Date header, else the internal date
    base_subject: str  # RFC 5256 §2.1, as stored
    reply: bool = False  # the subject marked a reply or forward


@dataclass(eq=False, slots=True)
class Node:
    message: ThreadMessage | None  # None: a dummy for a referenced message we do not have
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None


def _fold(subject: str) -> str:
    return subject.casefold()


def _key(node: Node) -> tuple[int, int]:
    # a dummy sorts by its first child (RFC 5256 §2.2 steps 4 and 6); children are sorted first
    while node.message is None and node.children:
        node = node.children[0]
    message = node.message
    return (message.sent, message.order) if message is not None else (0, 0)


def _preorder(roots: Iterable[Node]) -> list[Node]:
    out: list[Node] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out


def _sort_all(root: Node) -> None:
    """Sort every set of siblings by sent date, the youngest sets first (step 6)."""
    for node in reversed(_preorder([root])):
        node.children.sort(key=_key)


def _link(parent: Node, child: Node) -> None:
    child.parent = parent
    parent.children.append(child)


def _unlink(child: Node) -> None:
    if child.parent is not None:
        child.parent.children.remove(child)
        child.parent = None


def _would_loop(parent: Node, child: Node) -> bool:
    """True when ``parent`` is ``child`` or one of its descendants."""
    node: Node | None = parent
    while node is not None:
        if node is child:
            return True
        node = node.parent
    return False


def by_references(messages: Sequence[ThreadMessage]) -> list[Node]:
    """THREAD=REFERENCES: RFC 5256 §2.2 (the algorithm of Jamie Zawinski)."""
    table: dict[str, Node] = {}

    def container(message_id: str) -> Node:
        node = table.get(message_id)
        if node is None:
            node = table[message_id] = Node(None)
        return node

    # (1) link messages by their references
    for n, message in enumerate(messages):
        key = message.message_id
        if not key or (key in table and table[key].message is not None):
            key = f"\0unique {n}"  # no id, or a duplicate: a unique one of its own
        node = container(key)
        node.message = message
        # (1.A) the references, each the parent of the next; existing links are kept
        previous: Node | None = None
        for reference in message.references:
            current = container(reference)
            if (
                previous is not None
                and current.parent is None
                and not _would_loop(previous, current)
            ):
                _link(previous, current)
            previous = current
        # (1.B) the last reference is the parent of this message, replacing any other
        _unlink(node)
        if previous is not None and not _would_loop(previous, node):
            _link(previous, node)
    # (2) the root set: everything without a parent, under one dummy root
    root = Node(None)
    for node in table.values():
        if node.parent is None:
            _link(root, node)
    # (3) table discarded; (4) prune dummies, children before parents
    for node in reversed(_preorder(root.children)):
        kept: list[Node] = []
        for child in node.children:
            if child.message is None:
                kept.extend(child.children)  # no children: gone; else promoted
            else:
                kept.append(child)
        for child in kept:
            child.parent = node
        node.children = kept
    top: list[Node] = []
    for node in root.children:
        if node.message is None and len(node.children) <= 1:
            top.extend(node.children)  # promoted to the root only when there is one child
        else:
            top.append(node)
    for node in top:
        node.parent = root
    root.children = top
    # (5) sort the top level by date, a dummy by its first child's date
    for node in root.children:
        node.children.sort(key=_key)
    root.children.sort(key=_key)
    _group_by_subject(root)
    # (6) sort every set of siblings
    _sort_all(root)
    return root.children


def _thread_subject(node: Node) -> tuple[str, ThreadMessage | None]:
    message = node.message if node.message is not None else (
        node.children[0].message if node.children else None
    )
    return (_fold(message.base_subject) if message is not None else ""), message


def _group_by_subject(root: Node) -> None:
    """Step 5: merge top-level threads with the same base subject."""
    table: dict[str, Node] = {}
    # (5.B) one thread per subject: a dummy wins, else a message that is not a reply
    for node in root.children:
        subject, _ = _thread_subject(node)
        if not subject:
            continue
        held = table.get(subject)
        replaces = held is not None and held.message is not None and (
            node.message is None or (held.message.reply and not node.message.reply)
        )
        if held is None or replaces:
            table[subject] = node
    # (5.C) merge
    top: list[Node | None] = list(root.children)
    for i, node in enumerate(list(root.children)):
        subject, _ = _thread_subject(node)
        if not subject:
            continue
        held = table[subject]
        if held is node:
            continue
        top[i] = None
        if held.message is None and node.message is None:
            for child in node.children:
                _link(held, child)
            node.children = []
        elif held.message is None or (
            # a reply under the message it replies to (both real messages here)
            node.message is not None and node.message.reply and not held.message.reply
        ):
            _link(held, node)
        else:
            dummy = Node(None)
            top[top.index(held)] = dummy
            dummy.parent = root
            _link(dummy, held)
            _link(dummy, node)
            table[subject] = dummy
    root.children = [node for node in top if node is not None]
    for node in root.children:
        node.parent = root


def by_subject(messages: Sequence[ThreadMessage]) -> list[Node]:
    """THREAD=ORDEREDSUBJECT (RFC 5256 §3): by base subject, then sent date; the first
    message of each subject is the parent of the others; threads by their first's date."""
    ordered = sorted(messages, key=lambda m: (_fold(m.base_subject), m.sent, m.order))
    threads: list[Node] = []
    current: str | None = None
    for message in ordered:
        subject = _fold(message.base_subject)
        if subject != current or not threads:
            threads.append(Node(message))
            current = subject
        else:
            _link(threads[-1], Node(message))
    threads.sort(key=_key)
    return threads


def format_threads(roots: Sequence[Node]) -> bytes:
    """thread-list (RFC 5256 §4): "(" thread-members / thread-nested ")" per thread;
    a chain of single children is a run of numbers, two or more children are nested."""
    out: list[str] = []
    for top in roots:
        out.append("(")
        stack: list[Node | str] = [top]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                out.append(item)
                continue
            node = item
            while True:
                if node.message is not None:
                    if out[-1] != "(":
                        out.append(" ")
                    out.append(str(node.message.number))
                if node.message is not None and len(node.children) == 1:
                    node = node.children[0]
                    continue
                break
            if node.children:
                if node.message is not None:
                    out.append(" ")
                for child in reversed(node.children):
                    stack += [")", child, "("]
        out.append(")")
    return "".join(out).encode()
