"""Attachments uploaded before the message is sent (drag and drop, with a progress bar).

The compose page sends each file on its own (``POST /compose/upload``), gets a token back and
puts it in the form as ``staged``; sending or saving the draft reads the staged files by token
and then removes them. Without JavaScript the form's own file input still works and nothing is
staged.

Staged files live under ``data_dir/uploads/<account id>/``: the token is the only name, checked
against a strict pattern, so a token can never be a path, and one account never reads another's
files (the directory is the signed-in account's own). Files older than a day are swept away on
the next upload of the same account. On a cluster, staging is per node: a file staged on one
node and sent through another is reported missing, and the sender attaches it again.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from postbus.web import session
from postbus.web.outgoing import Upload
from postbus.web.pages import gettext_for, signed_in
from postbus.web.session import SignedIn

TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
MAX_AGE = 24 * 3600
MAX_STAGED_FILES = 100
CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Staged:
    token: str
    filename: str
    content_type: str
    size: int


def file_limit(request: Request) -> int:
    """The largest attachment that still fits the message limit once base64-encoded."""
    return int(request.app.state.service.config.limits.max_message_size * 3 // 4)


def _folder(request: Request, user: SignedIn) -> Path:
    data_dir = Path(request.app.state.service.config.data_dir)
    return data_dir / "uploads" / str(int(user.account.id))


def _describe(folder: Path, token: str) -> Staged | None:
    if not TOKEN.fullmatch(token):
        return None
    try:
        meta = json.loads((folder / f"{token}.json").read_text(encoding="utf-8"))
        size = (folder / f"{token}.bin").stat().st_size
    except (OSError, ValueError):
        return None
    return Staged(token, str(meta["filename"]), str(meta["content_type"]), size)


def listed(request: Request, user: SignedIn, tokens: list[object]) -> list[Staged]:
    """The staged files the form names that still exist (the form shown again after an error)."""
    folder = _folder(request, user)
    found = (_describe(folder, t) for t in tokens[:MAX_STAGED_FILES] if isinstance(t, str))
    return [staged for staged in found if staged is not None]


async def read(request: Request, user: SignedIn, token: str) -> Upload | None:
    folder = _folder(request, user)
    staged = _describe(folder, token)
    if staged is None:
        return None
    data = await asyncio.to_thread((folder / f"{token}.bin").read_bytes)
    return Upload(staged.filename, staged.content_type, data)


def discard(request: Request, user: SignedIn, tokens: list[object]) -> None:
    folder = _folder(request, user)
    for token in tokens[:MAX_STAGED_FILES]:
        if isinstance(token, str) and TOKEN.fullmatch(token):
            for suffix in (".bin", ".json"):
                (folder / f"{token}{suffix}").unlink(missing_ok=True)


def _sweep(folder: Path, now: float) -> tuple[int, int]:
    """Remove stale files; the number and total size of the staged files left."""
    left = octets = 0
    for path in folder.glob("*.bin"):
        try:
            found = path.stat()
            if now - found.st_mtime > MAX_AGE:
                path.unlink(missing_ok=True)
                path.with_suffix(".json").unlink(missing_ok=True)
            else:
                left += 1
                octets += found.st_size
        except OSError:
            continue
    return left, octets


def _store(folder: Path, upload: UploadFile, limit: int) -> Staged | None:
    """Copy the upload into the staging folder; None when it is larger than ``limit``."""
    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    target = folder / f"{token}.bin"
    written = 0
    with target.open("wb") as out:
        upload.file.seek(0)
        while chunk := upload.file.read(CHUNK):
            written += len(chunk)
            if written > limit:
                break
            out.write(chunk)
    if written > limit:
        target.unlink(missing_ok=True)
        return None
    filename = (upload.filename or "attachment").replace("/", "_").replace("\\", "_")[:200]
    content_type = (upload.content_type or "application/octet-stream")[:200]
    meta = {"filename": filename, "content_type": content_type}
    (folder / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
    return Staged(token, filename, content_type, written)


@signed_in
async def upload(request: Request, user: SignedIn) -> Response:
    _ = gettext_for(request)
    form = await session.checked_form(request, user.csrf)
    item = form.get("file")
    if not isinstance(item, UploadFile):
        return JSONResponse({"error": _("No file was sent.")}, status_code=400)
    folder = _folder(request, user)
    limit = file_limit(request)
    left, octets = (await asyncio.to_thread(_sweep, folder, time.time())
                    if folder.exists() else (0, 0))
    # Room for a message or two being written at once, not a file store.
    if left >= MAX_STAGED_FILES or octets + limit > 4 * limit:
        return JSONResponse({"error": _("Too many attachments.")}, status_code=400)
    staged = await asyncio.to_thread(_store, folder, item, limit)
    await item.close()
    if staged is None:
        return JSONResponse({"error": _("This file is too large to send.")}, status_code=413)
    return JSONResponse({"token": staged.token, "name": staged.filename, "size": staged.size})


@signed_in
async def remove(request: Request, user: SignedIn) -> Response:
    await session.checked_form(request, user.csrf)
    discard(request, user, [request.path_params["token"]])
    return Response(status_code=204)


routes = [
    Route("/compose/upload", upload, methods=["POST"]),
    Route("/compose/upload/{token}/remove", remove, methods=["POST"]),
]
