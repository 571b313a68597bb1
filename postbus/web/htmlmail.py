"""HTML e-mail made safe to show: sanitised once with nh3 (ammonia), last.

What leaves here is a fragment with no script, no event handler, no form, no frame, no
``javascript:`` or ``data:`` link, no remote image unless the reader asked for them; ``cid:``
images become ``data:`` URLs of the message's own image parts, so the sandboxed frame needs no
cookie to show them. The frame adds its own CSP (``default-src 'none'``) and sandbox, so even
a sanitiser bug cannot run script (defence in depth).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

import nh3

from postbus.mime import BodyPart
from postbus.web.reading import content_ids, part_bytes

INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}
MAX_INLINE_IMAGE = 3 * 1024 * 1024
MAX_INLINE_TOTAL = 12 * 1024 * 1024

TAGS = (set(nh3.ALLOWED_TAGS) | {"style", "font", "center", "big", "tfoot"}) - {"map", "area"}
ATTRIBUTES = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
ATTRIBUTES["*"] = {
    "style", "class", "id", "align", "valign", "bgcolor", "width", "height", "dir", "title",
    "lang", "border", "cellpadding", "cellspacing", "color", "face", "size", "nowrap",
}
ATTRIBUTES["a"] = ATTRIBUTES.get("a", set()) | {"name"}
REMOTE = ("http:", "https:", "//")


@dataclass(slots=True)
class Sanitised:
    html: str
    blocked: int = 0  # remote images left out
    inline_bytes: int = 0
    notes: list[str] = field(default_factory=list)


def sanitise(markup: str, raw: bytes, body: BodyPart, show_remote: bool) -> Sanitised:
    cids = content_ids(body)
    result = Sanitised("")

    def image(value: str) -> str | None:
        src = value.strip()
        lowered = src.lower()
        if lowered.startswith("cid:"):
            part = cids.get(src[4:].strip().strip("<>"))
            if part is None or part.content_type not in INLINE_IMAGE_TYPES:
                return None
            data = part_bytes(raw, part)
            if len(data) > MAX_INLINE_IMAGE or result.inline_bytes + len(data) > MAX_INLINE_TOTAL:
                return None
            result.inline_bytes += len(data)
            return f"data:{part.content_type};base64,{base64.b64encode(data).decode()}"
        if lowered.startswith(REMOTE):
            if show_remote:
                return src
            result.blocked += 1
            return None
        return None  # data:, file:, anything else

    def attribute(tag: str, name: str, value: str) -> str | None:
        if tag == "img" and name == "src":
            return image(value)
        if name in ("href", "cite", "src", "background"):
            return _safe_link(tag, value)
        if name == "style" and not show_remote and "url(" in value.lower():
            result.blocked += 1  # kept: the frame's CSP (img-src data:) stops the load
        return value

    result.html = nh3.clean(
        markup,
        tags=TAGS,
        clean_content_tags={"script", "title", "template", "noscript", "iframe", "object",
                            "embed", "svg", "math"},
        attributes=ATTRIBUTES,
        attribute_filter=attribute,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )
    if not show_remote and "url(" in result.html.lower():
        # remote CSS in <style>: the frame's CSP blocks it; count it so "show images" appears
        result.blocked += result.html.lower().count("url(http")
    return result


def _safe_link(tag: str, value: str) -> str | None:
    lowered = value.strip().lower()
    if lowered.startswith(("http:", "https:", "mailto:")):
        return value
    if tag == "a" and lowered.startswith("#"):
        return value
    return None


# What the compose editor makes (Squire: b, i, u, lists, blockquote, links; one div per line),
# and nothing more: the HTML part we send is plain structure, no style, no image, no class.
COMPOSED_TAGS = {"a", "b", "strong", "i", "em", "u", "s", "ul", "ol", "li", "blockquote", "p",
                 "div", "br", "span", "pre", "code", "h1", "h2", "h3", "h4", "hr", "sub", "sup"}
COMPOSED_ATTRIBUTES = {"a": {"href"}, "*": {"dir"}}


def sanitise_composed(markup: str) -> str:
    """HTML from the compose form (or a draft being reopened) made safe to send and to edit:
    the same nh3 cleaning as mail we show, with the editor's small set of tags."""
    return nh3.clean(
        markup,
        tags=COMPOSED_TAGS,
        clean_content_tags={"script", "style", "title", "template", "noscript", "iframe",
                            "object", "embed", "svg", "math"},
        attributes=COMPOSED_ATTRIBUTES,
        attribute_filter=lambda tag, name, value: (
            _safe_link(tag, value) if name == "href" else value),
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def plain_as_html(text: str) -> str:
    return f'<div class="plain">{html.escape(text)}</div>'


FRAME_STYLE = (
    "html{background:#fff;color:#111}body{margin:12px;font:15px/1.45 system-ui,-apple-system,"
    "'Segoe UI',Roboto,sans-serif;overflow-wrap:anywhere}img{max-width:100%;height:auto}"
    ".plain{white-space:pre-wrap;font:14px/1.45 ui-monospace,Menlo,Consolas,monospace}"
    "blockquote{margin:0 0 0 .5em;padding-left:.75em;border-left:3px solid #ccc}"
    "table{max-width:100%!important}td{overflow-wrap:anywhere}"
)


def frame_document(fragments: list[str]) -> str:
    """The whole document of the message frame: our own style, then the sanitised fragments."""
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        '<meta name="referrer" content="no-referrer">'
        f"<style>{FRAME_STYLE}</style></head><body>" + "\n".join(fragments) + "</body></html>"
    )


def frame_csp(show_remote: bool) -> str:
    images = "data: https: http:" if show_remote else "data:"
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; font-src data:; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; "
        "sandbox allow-popups allow-popups-to-escape-sandbox"
    )
