"""Upload: a file from the browser (multipart form) or a script (PUT) into the bucket."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from salesflow.console.security import CSRF_FIELD, TOKEN_HEADER
from salesflow.console.state import ConsoleState
from salesflow.console.uploads import MultipartEvents, ObjectUpload, check_key, stream_body
from salesflow.console.web import done, render, state_of
from salesflow.ports import ObjectInfo

router = APIRouter()
MULTIPART_SLACK = 64 << 10  # headers and boundaries around the file in a form upload


@router.get("/upload")
def upload_page(request: Request, uploaded: Annotated[str | None, Query(max_length=1024)] = None) -> Response:
    state = state_of(request)
    context = {"page": "upload", "uploaded": uploaded, "max_mb": state.console.max_upload_mb}
    return render(request, "upload.html", context)


@router.put("/api/objects/{key:path}")
async def put_object(request: Request, key: str) -> dict[str, Any]:
    """Stream the request body into the bucket under key (curl -T FILE -H 'X-Salesflow-Token: ...')."""
    state = state_of(request)
    state.guard.require(request)
    check_key(state.app.store, key)
    _refuse_declared_oversize(request, state, 0)
    info = await stream_body(request.stream(), ObjectUpload(state.app.store, key, state.console.max_upload_bytes))
    return _described(info)


@router.post("/upload")
async def upload_form(request: Request) -> Response:
    """A form with the fields csrf_token and key (in that order), then the file. The key may
    end in '/' to keep the file's own name (orders/ by default)."""
    state = state_of(request)
    _refuse_declared_oversize(request, state, MULTIPART_SLACK)
    parts = MultipartEvents(request.headers.get("content-type", ""))
    fields: dict[str, str] = {}
    upload: ObjectUpload | None = None
    info: ObjectInfo | None = None
    try:
        async for chunk in request.stream():
            for event in parts.feed(chunk):
                kind = event[0]
                if kind == "field":
                    fields[event[1]] = event[2]
                elif kind == "file":
                    if upload is not None or info is not None:
                        raise HTTPException(400, "send one file per upload")
                    upload = await _start_file(request, state, fields, filename=event[1])
                elif kind == "data" and upload is not None:
                    await upload.write(event[1])
                elif kind == "end" and upload is not None:
                    info = await upload.commit()
                    upload = None
    finally:
        if upload is not None:
            await upload.abort()
    if info is None:
        state.guard.require(request, fields.get(CSRF_FIELD))
        raise HTTPException(400, "the form held no file; choose one and upload again")
    return done(request, f"/upload?uploaded={quote(info.key)}", _described(info))


async def _start_file(request: Request, state: ConsoleState, fields: dict[str, str], filename: str) -> ObjectUpload:
    """Check the token (or the session and the CSRF field, sent before the file) and the key,
    then open the object: nothing is written before both are right."""
    state.guard.require(request, None if TOKEN_HEADER in request.headers else fields.get(CSRF_FIELD))
    key = check_key(state.app.store, _key_for(fields.get("key", "orders/"), filename))
    upload = ObjectUpload(state.app.store, key, state.console.max_upload_bytes)
    await upload.open()
    return upload


def _key_for(key: str, filename: str) -> str:
    """The object key: the form's key, with the file's own name appended when it ends in '/'."""
    key = key.strip()
    if key.endswith("/"):
        name = filename.replace("\\", "/").rsplit("/", 1)[-1]  # browsers on Windows may send a path
        if not name:
            raise HTTPException(400, "choose a file to upload")
        return key + name
    return key


def _refuse_declared_oversize(request: Request, state: ConsoleState, slack: int) -> None:
    """Refuse at once a body whose declared length is over the limit (no byte is read)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > state.console.max_upload_bytes + slack:
        raise HTTPException(413, f"the upload is larger than console.max_upload_mb ({state.console.max_upload_mb} MB)")


def _described(info: ObjectInfo) -> dict[str, Any]:
    return {"key": info.key, "size": info.size, "version": info.version}
