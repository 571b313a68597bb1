"""Synthetic but realistic messages for benchmarks: `synthetic_messages(count, seed, to)`.

Deterministic (one `random.Random(seed)` per call; the same arguments give the same bytes) and
fast (pools of paragraphs, people, subjects and encoded attachments are built once per process,
then each message is assembled by joining precomputed byte strings).

What a stream of messages looks like
------------------------------------
- Sizes 2 KiB .. 50 KiB (2,048 .. 51,200 bytes, hard bounds), log-triangular, median about 8 KiB.
- Structure: ~55 % text/plain, ~25 % multipart/alternative (text/plain + text/html),
  ~20 % multipart/mixed with one base64 attachment (.pdf, .jpg or .docx).
- Language: ~80 % English (7bit), ~10 % German and ~10 % Dutch with accents (UTF-8, half
  quoted-printable, half 8bit; non-ASCII names and subjects as RFC 2047 encoded words).
- Threads: ~30 % are replies to one of the 256 messages before them ("Re:" subject,
  In-Reply-To, References with the parent's chain, at most 10 ids).
- Unique Message-IDs (the index is part of the id); Date headers spread over ten years
  (2016-01-01 .. 2026-01-01 UTC) and never decreasing with the index.
- CRLF line endings; lines <= 78 characters (8bit text: characters, not octets), except the
  Content-Type line of .docx attachments, whose media type alone is 71 characters.

Vocabulary for full-text benchmarks (in the body text, i.e. the text/plain part and, where
there is one, the HTML part; never in headers, attachment names or attachment bytes)
--------------------------------------------------------------------------------------------
- ``zeppelin``: exactly one message in every complete block of 1,000 consecutive indices
  (0-999, 1000-1999, ...); the position inside a block is random. So among ``count`` messages,
  ``count // 1000`` contain it (plus at most one in a trailing partial block).
- ``quarterly``: each message independently with probability 0.05 (~5 %).
- ``kaleidoscope``: each message independently with probability 0.01 (~1 %).
None of the three words occurs anywhere else; all pool text is checked for that at build time.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import html
import math
import random
import statistics
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from functools import cache

__all__ = ["KALEIDOSCOPE_P", "MAX_SIZE", "MIN_SIZE", "QUARTERLY_P", "synthetic_messages"]

MIN_SIZE = 2 * 1024
MAX_SIZE = 50 * 1024
QUARTERLY_P = 0.05
KALEIDOSCOPE_P = 0.01
ZEPPELIN_BLOCK = 1000
REPLY_P = 0.30
REPLY_WINDOW = 256
MAX_REFERENCES = 10

_START = 1451606400  # 2016-01-01T00:00:00Z
_SPAN = 3652 * 86400  # ten years, to 2026-01-01
_RARE_WORDS = ("zeppelin", "quarterly", "kaleidoscope")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# --- source text ------------------------------------------------------------------------------

_SENTENCES = {
    "en": [
        "Thanks for sending the draft over so quickly.",
        "I have gone through the numbers and most of them look right to me.",
        "Could you double-check the figures in the second table before we share it?",
        "The meeting on Tuesday has moved to the small room on the third floor.",
        "Let me know if the new schedule works for your team.",
        "We still need a decision on the supplier before the end of the month.",
        "I attached the notes from yesterday, including the open questions.",
        "The migration went smoothly, apart from a short outage around midnight.",
        "Please keep in mind that the office is closed on Friday afternoon.",
        "Our customers in the north have asked for longer opening hours.",
        "Anna will take over the project while Mark is on leave.",
        "The budget for the workshop is tight, so let us keep the catering simple.",
        "I spoke to the landlord and the repairs should be done next week.",
        "Can we move the review to Thursday morning instead?",
        "The new laptops have arrived and can be picked up at reception.",
        "It would help if everyone filled in the survey by Monday.",
        "The train was delayed again, so I joined the call from the platform.",
        "We agreed to publish the release notes together with the update.",
        "There is a small typo in the title of the presentation.",
        "The garden club meets again on the first Saturday of the month.",
        "I am not sure the current plan covers the extra shipping costs.",
        "Feel free to forward this to anyone who might be interested.",
        "The test results are in and they look much better than last time.",
        "We should book the venue soon, the popular dates go quickly.",
        "My flight lands at half past six, so I will be a bit late.",
        "Thank you all for the hard work over the past few weeks.",
        "The printer on the second floor is out of toner once more.",
        "I would like to hear your thoughts on the proposal before we commit.",
        "Please send me the signed contract when you have a moment.",
        "The weather forecast looks good for the team outing.",
        "We are looking for volunteers to help with the spring cleaning.",
        "The server logs show a spike in traffic every night at two.",
        "I forgot to mention that parking is free after six.",
        "The children loved the museum, especially the dinosaur hall.",
        "Our new colleague starts on Monday; please make her feel welcome.",
        "The recipe calls for fresh basil, but dried works in a pinch.",
        "I booked a table for eight at the usual place.",
        "The invoice for the repairs is attached for your records.",
        "Let us aim to finish the first version before the holidays.",
        "We received a few complaints about the noise from the workshop.",
    ],
    "de": [
        "Vielen Dank für die schnelle Rückmeldung.",
        "Ich habe die Unterlagen geprüft und nur wenige Fehler gefunden.",
        "Könnten Sie die Änderungen bis Donnerstag übernehmen?",
        "Die Besprechung findet ausnahmsweise im großen Saal statt.",
        "Bitte denken Sie an die Frist für die Anmeldung zum Seminar.",
        "Wir müssen noch über die Öffnungszeiten im Sommer sprechen.",
        "Die Rechnung für die Reparatur liegt dieser Nachricht bei.",
        "Der Zug hatte leider wieder eine Verspätung von zwanzig Minuten.",
        "Für das Grillfest am Samstag brauchen wir noch ein paar Salate.",
        "Die Überprüfung der Heizungsanlage ist für Mittwoch geplant.",
        "Schöne Grüße auch an die Kolleginnen und Kollegen in Köln.",
        "Ich würde mich über eine kurze Bestätigung freuen.",
        "Die Straße vor dem Büro wird ab nächster Woche gesperrt.",
        "Unser Kunde möchte das Angebot noch einmal überarbeitet sehen.",
        "Die Kinder waren begeistert vom Ausflug in den Zoo.",
        "Wir haben die Präsentation um zwei Folien gekürzt.",
        "Die neuen Schlüssel können ab Montag am Empfang abgeholt werden.",
        "Bei Fragen stehe ich Ihnen gern zur Verfügung.",
        "Das Protokoll der letzten Sitzung finden Sie im Anhang.",
        "Der Umzug in das neue Gebäude verzögert sich um eine Woche.",
        "Es wäre schön, wenn alle pünktlich um neun Uhr da wären.",
        "Die Ergebnisse der Umfrage sind überraschend positiv ausgefallen.",
    ],
    "nl": [
        "Bedankt voor je snelle reactie.",
        "Ik heb de stukken doorgenomen en zie maar een paar kleine fouten.",
        "Kun je de wijzigingen vóór donderdag verwerken?",
        "Het overleg is verplaatst naar de grote zaal op de eerste verdieping.",
        "Vergeet niet je aan te melden voor de cursus in België.",
        "We moeten nog praten over de openingstijden in de zomer.",
        "De factuur voor de reparatie zit als bijlage bij dit bericht.",
        "De trein had helaas weer twintig minuten vertraging.",
        "Voor de barbecue op zaterdag zoeken we nog een paar salades.",
        "De controle van de cv-ketel staat gepland voor woensdag.",
        "Hartelijke groeten aan de collega's in Utrecht.",
        "Ik hoor graag of het nieuwe rooster voor jullie werkt.",
        "De weg voor het kantoor is vanaf volgende week afgesloten.",
        "Onze klant wil de offerte nog één keer herzien zien.",
        "De kinderen vonden het uitje naar de dierentuin geweldig.",
        "We hebben de presentatie met twee dia's ingekort.",
        "De ideeën uit de brainstorm staan in het gedeelde document.",
        "Bij vragen kun je altijd contact met me opnemen.",
        "Het verslag van de vorige vergadering vind je in de bijlage.",
        "De verhuizing naar het nieuwe pand loopt een week vertraging op.",
        "Het zou fijn zijn als iedereen om negen uur aanwezig is.",
        "De coördinatie met het andere team verloopt prima.",
    ],
}

_RARE_SENTENCES = {
    "en": {
        "zeppelin": "On the way in we saw an old zeppelin drifting slowly over the harbour.",
        "quarterly": "The quarterly report is nearly finished; only the summary is missing.",
        "kaleidoscope": "The new lobby carpet looks like a kaleidoscope of colours.",
    },
    "de": {
        "zeppelin": "Heute Morgen flog ein zeppelin langsam über den Hafen.",
        "quarterly": "Der quarterly Bericht für den Vorstand ist fast fertig.",
        "kaleidoscope": "Das neue Logo erinnert an ein kaleidoscope aus Farben.",
    },
    "nl": {
        "zeppelin": "Vanochtend dreef er een zeppelin langzaam over de haven.",
        "quarterly": "Het quarterly rapport voor het bestuur is bijna klaar.",
        "kaleidoscope": "Het nieuwe logo lijkt op een kaleidoscope van kleuren.",
    },
}

# Sentences with numbers and codes: they widen the vocabulary the way real mail does.
_NUMBERED = {
    "en": [
        "Ticket #{n} is still open.",
        "Order {n} ships on {d} {m}.",
        "The call is on {d} {m} at {h}:30, room {r}.",
        "Reference number: PB-{n}.",
        "The total comes to {n} euros excluding VAT.",
    ],
    "de": [
        "Ticket #{n} ist noch offen.",
        "Die Bestellung {n} wird am {d}. {m} geliefert.",
        "Der Termin ist am {d}. {m} um {h}:30 Uhr in Raum {r}.",
        "Aktenzeichen: PB-{n}.",
        "Der Betrag beläuft sich auf {n} Euro zuzüglich MwSt.",
    ],
    "nl": [
        "Ticket #{n} staat nog open.",
        "Bestelling {n} wordt op {d} {m} geleverd.",
        "De afspraak is op {d} {m} om {h}:30 uur in zaal {r}.",
        "Kenmerk: PB-{n}.",
        "Het totaal komt op {n} euro exclusief btw.",
    ],
}
_MONTH_NAMES = {
    "en": ["January", "March", "May", "June", "September", "November"],
    "de": ["Januar", "März", "Mai", "Juni", "September", "November"],
    "nl": ["januari", "maart", "mei", "juni", "september", "november"],
}
_ASCII_FOLD = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "é": "e",
        "ë": "e",
        "Ä": "Ae",
        "Ö": "Oe",
        "Ü": "Ue",
    }
)

_GREETINGS = {
    "en": ["Hi,", "Hello all,", "Dear colleagues,", "Hi team,", "Good morning,"],
    "de": ["Hallo,", "Liebe Kolleginnen und Kollegen,", "Guten Tag,", "Hallo zusammen,"],
    "nl": ["Hoi,", "Beste collega's,", "Goedemorgen,", "Hallo allemaal,"],
}
_WROTE = {"en": "wrote:", "de": "schrieb:", "nl": "schreef:"}

_PEOPLE = {
    "en": (
        [
            "Alice",
            "Ben",
            "Chloe",
            "David",
            "Emma",
            "Frank",
            "Grace",
            "Henry",
            "Isla",
            "Jack",
            "Kate",
            "Liam",
            "Maya",
            "Noah",
            "Olivia",
            "Peter",
            "Ruth",
            "Sam",
            "Tara",
            "Victor",
        ],
        [
            "Smith",
            "Jones",
            "Taylor",
            "Brown",
            "Wilson",
            "Evans",
            "Walker",
            "Wright",
            "Green",
            "Hall",
            "Clarke",
            "Hughes",
            "Baker",
            "Price",
            "Bennett",
            "Carter",
        ],
        [
            "northwind.test",
            "fabrikam.test",
            "contoso.test",
            "harbour.test",
            "mailbox.test",
            "acme-widgets.test",
            "riverside.test",
        ],
    ),
    "de": (
        [
            "Jürgen",
            "Jörg",
            "Sabine",
            "Björn",
            "Käthe",
            "Uwe",
            "Lena",
            "Max",
            "Sören",
            "Anja",
            "Tobias",
            "Ute",
        ],
        [
            "Müller",
            "Schäfer",
            "Weiß",
            "Groß",
            "Köhler",
            "Becker",
            "Hoffmann",
            "Krüger",
            "Schröder",
            "Wagner",
            "Böhm",
        ],
        ["beispiel-gmbh.test", "rheinwerk.test", "post-ost.test", "stadtwerke.test"],
    ),
    "nl": (
        [
            "Sanne",
            "Daan",
            "Eva",
            "Joëlle",
            "Bram",
            "Noël",
            "Femke",
            "Ruud",
            "Lotte",
            "Thijs",
            "Inge",
            "Zoë",
        ],
        [
            "de Vries",
            "Jansen",
            "van Dijk",
            "Bakker",
            "Visser",
            "Smit",
            "de Boer",
            "Mulder",
            "van den Berg",
            "Dekker",
            "Brouwer",
        ],
        ["voorbeeld.test", "hoogland.test", "grachtenpost.test", "polder-it.test"],
    ),
}

_SUBJECT_TEMPLATES = {
    "en": [
        "{t}",
        "Question about {t}",
        "{t}: update",
        "Notes from the meeting on {t}",
        "Reminder: {t}",
        "{t} - next steps",
        "Draft for {t}",
        "FYI: {t}",
    ],
    "de": [
        "{t}",
        "Kurze Frage: {t}",
        "{t}: aktueller Stand",
        "Protokoll: {t}",
        "Erinnerung: {t}",
        "Nächste Schritte: {t}",
        "Entwurf: {t}",
    ],
    "nl": [
        "{t}",
        "Vraag over {t}",
        "{t}: stand van zaken",
        "Verslag: {t}",
        "Herinnering: {t}",
        "Volgende stappen: {t}",
        "Concept voor {t}",
    ],
}
_TOPICS = {
    "en": [
        "the budget",
        "the office move",
        "the spring release",
        "team lunch",
        "the website",
        "holiday planning",
        "the new printer",
        "customer feedback",
        "the workshop",
        "parking permits",
        "the annual dinner",
        "server maintenance",
        "the garden club",
        "travel expenses",
        "the newsletter",
        "onboarding",
        "the school trip",
        "the contract",
        "the roadmap",
        "the fire drill",
    ],
    "de": [
        "das Budget",
        "der Umzug",
        "die Präsentation",
        "das Sommerfest",
        "die Öffnungszeiten",
        "die Heizungsanlage",
        "die Schulung",
        "die Bürogeräte",
        "das Grillfest",
        "die Überstunden",
    ],
    "nl": [
        "het budget",
        "de verhuizing",
        "de presentatie",
        "het zomerfeest",
        "de openingstijden",
        "de cv-ketel",
        "de cursus",
        "het rooster",
        "de barbecue",
        "de coördinatie",
    ],
}

_ATTACHMENT_KINDS = (
    (
        "application/pdf",
        "pdf",
        ["invoice-{n}.pdf", "Quote {n}.pdf", "minutes-{n}.pdf", "statement_{n}.pdf"],
    ),
    ("image/jpeg", "jpg", ["IMG_{n}.jpg", "photo-{n}.jpg", "scan{n}.jpg"]),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
        ["Projectplan v{n}.docx", "report-{n}.docx", "agenda {n}.docx"],
    ),
)

# --- pools ------------------------------------------------------------------------------------

_PARAGRAPHS = 400
_CTES = {"en": ("7bit",), "de": ("quoted-printable", "8bit"), "nl": ("quoted-printable", "8bit")}


def _encode(text: str, cte: str) -> bytes:
    """Text with LF line ends -> body bytes in `cte`, CRLF line ends."""
    data = text.replace("\n", "\r\n").encode("utf-8")
    if cte == "quoted-printable":
        # RFC 2045 §6.7: lines <= 76, soft breaks as "=\r\n" (b2a_qp keeps the CRLF it is given).
        return binascii.b2a_qp(data, istext=True)
    return data


def _paragraph_text(sentences: list[str]) -> str:
    return textwrap.fill(" ".join(sentences), width=72) + "\n"


def _html_text(paragraph: str) -> str:
    return "<p>" + html.escape(paragraph.rstrip("\n"), quote=False) + "</p>\n"


@dataclass(frozen=True, slots=True)
class _Person:
    address: str
    domain: str
    received: str  # "Received: from ... id " up to the queue id
    from_line: bytes  # "From: ...\r\n", RFC 2047 encoded where needed
    signature: dict[str, bytes]  # by cte


@dataclass(frozen=True, slots=True)
class _Subject:
    line: bytes  # "Subject: ...\r\n"
    reply_line: bytes  # "Subject: Re: ...\r\n"


@dataclass(frozen=True, slots=True)
class _Pools:
    plain: dict[tuple[str, str], list[bytes]]  # (lang, cte) -> paragraph + blank line
    html: dict[tuple[str, str], list[bytes]]  # same index -> <p>...</p>
    rare: dict[tuple[str, str, str], tuple[bytes, bytes]]  # (lang, cte, word) -> (plain, html)
    quotes: dict[tuple[str, str], list[bytes]]  # "> " quoted paragraphs
    greetings: dict[tuple[str, str], list[bytes]]
    people: dict[str, list[_Person]]
    subjects: dict[str, list[_Subject]]
    # per attachment kind: (encoded sizes ascending, base64 bodies, part headers with a name)
    attachments: list[tuple[list[int], list[bytes], list[bytes]]]
    indices: range  # paragraph numbers, for drawing plain/html pairs
    max_step: int  # the most one fill step can add to a message


def _fold(name: str, value: str) -> bytes:
    # RFC 2047 encoded words for non-ASCII text, folded at 78 (policy.SMTP: CRLF).
    return policy.SMTP.header_factory(name, value).fold(policy=policy.SMTP).encode("ascii")


def _attachment_body(kind: str, size: int, rng: random.Random) -> bytes:
    if kind == "jpg":  # incompressible, like real JPEG data
        raw = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        raw += rng.randbytes(max(0, size - len(raw) - 2)) + b"\xff\xd9"
    elif kind == "docx":  # a zip container: incompressible after the local header
        raw = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml"
        raw += rng.randbytes(max(0, size - len(raw)))
    else:  # PDF: text objects around a deflated (random-looking) stream
        head = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        tail = b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
        body = size - len(head) - len(tail) - 40
        raw = head + b"4 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % max(body, 0)
        raw += rng.randbytes(max(body, 0)) + tail
    return base64.encodebytes(raw).replace(b"\n", b"\r\n")


@cache
def _pools() -> _Pools:
    rng = random.Random(20260509)  # the pools are the same for every seed
    plain: dict[tuple[str, str], list[bytes]] = {}
    html_pool: dict[tuple[str, str], list[bytes]] = {}
    rare: dict[tuple[str, str, str], tuple[bytes, bytes]] = {}
    quotes: dict[tuple[str, str], list[bytes]] = {}
    greetings: dict[tuple[str, str], list[bytes]] = {}
    for lang, sentences in _SENTENCES.items():
        for s in sentences:
            assert not any(w in s.lower() for w in _RARE_WORDS), s
        paragraphs = []
        for _ in range(_PARAGRAPHS):
            chosen = rng.sample(sentences, rng.randint(2, 9))
            if rng.random() < 0.5:
                chosen.insert(
                    rng.randrange(len(chosen) + 1),
                    rng.choice(_NUMBERED[lang]).format(
                        n=rng.randint(1000, 99999),
                        d=rng.randint(1, 28),
                        h=rng.randint(8, 17),
                        m=rng.choice(_MONTH_NAMES[lang]),
                        r=rng.randint(100, 499),
                    ),
                )
            paragraphs.append(_paragraph_text(chosen))
        for cte in _CTES[lang]:
            key = (lang, cte)
            plain[key] = [_encode(p + "\n", cte) for p in paragraphs]
            html_pool[key] = [_encode(_html_text(p), cte) for p in paragraphs]
            quotes[key] = [
                _encode("".join(f"> {line}\n" for line in p.splitlines()), cte)
                for p in paragraphs[:100]
            ]
            greetings[key] = [_encode(g + "\n\n", cte) for g in _GREETINGS[lang]]
            for word, sentence in _RARE_SENTENCES[lang].items():
                text = _paragraph_text([sentence])
                pair = (_encode(text + "\n", cte), _encode(_html_text(text), cte))
                assert all(word.encode() in b for b in pair), (word, cte)  # never split by QP
                rare[(lang, cte, word)] = pair

    people: dict[str, list[_Person]] = {}
    for lang, (firsts, lasts, domains) in _PEOPLE.items():
        people[lang] = []
        for first in firsts:
            for last in rng.sample(lasts, 4):
                name = f"{first} {last}"
                local = (first + "." + last.replace(" ", "")).translate(_ASCII_FOLD).lower()
                domain = rng.choice(domains)
                address = f"{local}@{domain}"
                signature = {cte: _encode(f"-- \n{name}\n", cte) for cte in _CTES[lang]}
                people[lang].append(
                    _Person(
                        address,
                        domain,
                        f"Received: from mail.{domain} (mail.{domain} [192.0.2."
                        f"{rng.randint(1, 254)}])\r\n\tby mx.example.test (postbus) with "
                        "ESMTPS id ",
                        _fold("From", f"{name} <{address}>"),
                        signature,
                    )
                )

    subjects: dict[str, list[_Subject]] = {}
    for lang, templates in _SUBJECT_TEMPLATES.items():
        subjects[lang] = []
        for template in templates:
            for topic in _TOPICS[lang]:
                text = template.format(t=topic)
                text = text[0].upper() + text[1:]
                subjects[lang].append(
                    _Subject(_fold("Subject", text), _fold("Subject", "Re: " + text))
                )

    attachments: list[tuple[list[int], list[bytes], list[bytes]]] = []
    for content_type, ext, names in _ATTACHMENT_KINDS:
        # raw sizes 700 B .. ~35 KB, 10 % apart; base64 adds a third
        bodies = [_attachment_body(ext, int(700 * 1.105**step), rng) for step in range(40)]
        kind_headers = []
        for template in names:
            for _ in range(12):
                filename = template.format(n=rng.randint(100, 9999))
                kind_headers.append(
                    f'Content-Type: {content_type};\r\n name="{filename}"\r\n'
                    f'Content-Disposition: attachment; filename="{filename}"\r\n'
                    "Content-Transfer-Encoding: base64\r\n\r\n".encode("ascii")
                )
        attachments.append(([len(b) for b in bodies], bodies, kind_headers))

    max_step = max(
        len(p) + len(h) for key in plain for p, h in zip(plain[key], html_pool[key], strict=True)
    )
    max_step = max(max_step, *(len(p) + len(h) for p, h in rare.values()))
    return _Pools(
        plain,
        html_pool,
        rare,
        quotes,
        greetings,
        people,
        subjects,
        attachments,
        range(_PARAGRAPHS),
        max_step,
    )


def _date(t: float, offset_minutes: int) -> str:
    tm = time.gmtime(t + offset_minutes * 60)
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return (
        f"{_WEEKDAYS[tm.tm_wday]}, {tm.tm_mday} {_MONTHS[tm.tm_mon - 1]} {tm.tm_year} "
        f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} {sign}{hours:02d}{minutes:02d}"
    )


_OFFSETS = {"en": (0, 0, 60, -300, -480, 600), "de": (60, 120), "nl": (60, 120)}

# --- assembly ---------------------------------------------------------------------------------


def synthetic_messages(
    count: int, seed: int = 1, to: str = "bench@example.test"
) -> Iterator[bytes]:
    """Yield `count` RFC 5322 messages (bytes, CRLF) addressed to `to`; see the module doc."""
    pools = _pools()
    rng = random.Random(seed)
    random_ = rng.random
    choice = rng.choice
    getrandbits = rng.getrandbits
    low = math.log(MIN_SIZE)
    high = math.log(MAX_SIZE - pools.max_step - 64)
    mode = math.log(6 * 1024)
    slot = _SPAN / max(count, 1)
    to_line = f"To: {to}\r\n".encode("ascii")
    # recent messages a reply may answer: (msgid, references, "Subject: Re: ..." line, address)
    recent: list[tuple[str, str, bytes, str]] = []
    zeppelin_at = -1

    for index in range(count):
        if index % ZEPPELIN_BLOCK == 0:
            zeppelin_at = index + rng.randrange(ZEPPELIN_BLOCK)
        roll = random_()
        lang = "en" if roll < 0.8 else ("de" if roll < 0.9 else "nl")
        cte = choice(_CTES[lang])
        key = (lang, cte)
        sender = choice(pools.people[lang])
        target = int(math.exp(rng.triangular(low, high, mode)))
        when = _START + (index + random_() * 0.999) * slot
        date = _date(when, choice(_OFFSETS[lang]))
        msgid = f"<{index:x}.{getrandbits(48):012x}@{sender.domain}>"

        header = [
            f"{sender.received}{getrandbits(40):010x}\r\n\tfor <{to}>; {date}\r\n"
            f"Date: {date}\r\n".encode(),
            sender.from_line,
            to_line,
        ]
        body_intro: list[bytes] = []
        if recent and random_() < REPLY_P:
            parent_id, parent_refs, reply_subject, parent_addr = choice(recent)
            refs = (parent_refs + " " + parent_id) if parent_refs else parent_id
            ids = refs.split(" ")
            if len(ids) > MAX_REFERENCES:  # RFC 5322 §3.6.4 allows trimming; keep the root
                refs = " ".join([ids[0], *ids[-(MAX_REFERENCES - 1) :]])
            header += [
                reply_subject,
                b"Message-ID: ",
                msgid.encode(),
                b"\r\nIn-Reply-To: ",
                parent_id.encode(),
                b"\r\nReferences: ",
                _fold_refs(refs),
            ]
            quote = [
                f"{parent_addr} {_WROTE[lang]}\r\n".encode(),
                choice(pools.quotes[key]),
                b"\r\n",
            ]
        else:
            refs = ""
            subject = choice(pools.subjects[lang])
            header += [subject.line, b"Message-ID: ", msgid.encode(), b"\r\n"]
            quote = []
            reply_subject = subject.reply_line  # no "Re: Re:" further down a thread
        header.append(b"MIME-Version: 1.0\r\n")
        recent.append((msgid, refs, reply_subject, sender.address))
        if len(recent) > REPLY_WINDOW:
            del recent[0]

        rare = []
        if index == zeppelin_at:
            rare.append(pools.rare[(lang, cte, "zeppelin")])
        if random_() < QUARTERLY_P:
            rare.append(pools.rare[(lang, cte, "quarterly")])
        if random_() < KALEIDOSCOPE_P:
            rare.append(pools.rare[(lang, cte, "kaleidoscope")])

        body_intro.append(choice(pools.greetings[key]))
        charset = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: '
        text_headers = charset + cte.encode() + b"\r\n\r\n"
        kind = random_()
        head = b"".join(header)
        plain_pool = pools.plain[key]
        if kind < 0.55:
            parts = [head, text_headers, *body_intro, *(p for p, _ in rare)]
            size = sum(map(len, parts)) + len(sender.signature[cte])
            for p in quote:
                size += len(p)
            size = _fill(parts, size, target, plain_pool, rng)
            parts += quote
            parts.append(sender.signature[cte])
        elif kind < 0.80:
            boundary = f"=_alt_{index:x}_{getrandbits(32):08x}".encode()
            html_pool = pools.html[key]
            plain_parts = [*body_intro, *(p for p, _ in rare)]
            html_parts = [b"<html><body>\r\n", *(h for _, h in rare)]
            size = len(head) + 400 + sum(map(len, plain_parts)) + sum(map(len, html_parts))
            while size < target:  # the same paragraphs in both parts
                for i in rng.choices(pools.indices, k=(target - size) // 1000 + 1):
                    plain_parts.append(plain_pool[i])
                    html_parts.append(html_pool[i])
                    size += len(plain_pool[i]) + len(html_pool[i])
                    if size >= target:
                        break
            plain_parts.append(sender.signature[cte])
            html_parts.append(b"</body></html>\r\n")
            html_headers = text_headers.replace(b"text/plain", b"text/html")
            parts = [
                head,
                b'Content-Type: multipart/alternative; boundary="',
                boundary,
                b'"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--',
                boundary,
                b"\r\n",
                text_headers,
                *plain_parts,
                b"\r\n--",
                boundary,
                b"\r\n",
                html_headers,
                *html_parts,
                b"\r\n--",
                boundary,
                b"--\r\n",
            ]
        else:
            boundary = f"=_mix_{index:x}_{getrandbits(32):08x}".encode()
            text_parts = [*body_intro, *(p for p, _ in rare), choice(plain_pool)]
            sizes, bodies, kind_headers = choice(pools.attachments)
            attachment_header = choice(kind_headers)
            size = (
                len(head)
                + 200
                + len(text_headers)
                + sum(map(len, text_parts))
                + len(attachment_header)
                + len(sender.signature[cte])
            )
            # the largest attachment that fits; the text fills the rest (at most ~10 %)
            attachment = bodies[max(bisect.bisect_right(sizes, target - size) - 1, 0)]
            size += len(attachment)
            size = _fill(text_parts, size, target, plain_pool, rng)
            text_parts.append(sender.signature[cte])
            parts = [
                head,
                b'Content-Type: multipart/mixed; boundary="',
                boundary,
                b'"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--',
                boundary,
                b"\r\n",
                text_headers,
                *text_parts,
                b"\r\n--",
                boundary,
                b"\r\n",
                attachment_header,
                attachment,
                b"\r\n--",
                boundary,
                b"--\r\n",
            ]
        yield b"".join(parts)


def _fill(parts: list[bytes], size: int, target: int, pool: list[bytes], rng: random.Random) -> int:
    """Append random paragraphs until `size` reaches `target`; one draw per batch (fast)."""
    while size < target:
        for p in rng.choices(pool, k=(target - size) // 400 + 1):
            parts.append(p)
            size += len(p)
            if size >= target:
                break
    return size


def _fold_refs(refs: str) -> bytes:
    """References value folded one id per line (RFC 5322 §2.2.3), CRLF-terminated."""
    return refs.replace(" ", "\r\n ").encode("ascii") + b"\r\n"


def _main() -> None:
    count = 10_000
    _pools()  # pools are built once per process; not part of the rate
    started = time.perf_counter()
    sizes = [len(m) for m in synthetic_messages(count)]
    elapsed = time.perf_counter() - started
    print(f"messages:        {count}")
    print(f"total bytes:     {sum(sizes):,}")
    print(f"median size:     {statistics.median(sizes):,.0f}")
    print(f"min / max size:  {min(sizes):,} / {max(sizes):,}")
    print(f"generation rate: {count / elapsed:,.0f} msg/s ({sum(sizes) / elapsed / 1e6:.0f} MB/s)")


if __name__ == "__main__":
    _main()
