"""Parse a message once, at delivery: envelope, body structure, preview, search text.

Pure code over raw octets (bytes, bytearray, memoryview or mmap); no I/O, no clock.

    parsed = parse_message(raw)          # never raises; parsed.size == len(raw)
    parsed.envelope                      # RFC 9051 ENVELOPE as JSON-ready lists
    parsed.body.to_json()                # BODYSTRUCTURE + byte offsets, for storage
    part = find_part(BodyPart.from_json(stored), (2, 1))
    raw[part.body_start:part.end]        # BODY[2.1]; raw[part.header_start:part.body_start]
                                         # is BODY[2.1.MIME]

Modules, one concern each:
  headers     header block, unfolding, RFC 2047 words, dates, message ids
  addresses   RFC 5322 address lists -> IMAP envelope form and `Address`
  params      Content-Type / Content-Disposition parameters, RFC 2231
  charsets    charset and content-transfer-encoding decoding that never raises
  structure   the MIME walker, `BodyPart`, offsets, IMAP part numbers
  envelope    RFC 9051 §7.5.2 ENVELOPE
  bodystructure  RFC 9051 §7.5.2 BODY / BODYSTRUCTURE as nested lists (`imap_body`)
  subject     RFC 5256 §2.1 base subject
  html_text   HTML -> plain text for search and previews
  text        body text, RFC 8970 preview, attachments
  message     `parse_message` and `ParsedMessage`
"""

from postbus.mime.addresses import Address
from postbus.mime.bodystructure import imap_body
from postbus.mime.headers import get_header, header_block
from postbus.mime.html_text import html_to_text
from postbus.mime.message import ParsedMessage, parse_message
from postbus.mime.structure import BodyPart, find_part, iter_sections
from postbus.mime.subject import base_subject
from postbus.mime.text import Attachment

__all__ = [
    "Address",
    "Attachment",
    "BodyPart",
    "ParsedMessage",
    "base_subject",
    "find_part",
    "get_header",
    "header_block",
    "html_to_text",
    "imap_body",
    "iter_sections",
    "parse_message",
]
