"""Parse a message once, at delivery: envelope, body structure, preview, search text.

Pure code over raw octets; see `message.parse_message` for the contract.
"""

from postbus.mime.addresses import Address
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
    "iter_sections",
    "parse_message",
]
