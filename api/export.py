"""`GET /audit/personal-data-access`: the access log as NDJSON, for auditors.

Query parameters as `personalDataAccess` (`subject`, `incident`, `principal`, `from`, `to`,
ISO 8601 with offset); the bearer token must be an auditor's. One JSON object per line, oldest
first, each with the log position of its batch; the whole matching log, streamed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from api.access import AccessFilter, read_access
from api.auth import Role
from api.errors import ApiError, AuthError, InvalidFilter
from api.schema.audit import access_filter
from api.schema.context import Context, Services

__all__ = ["access_export"]


def _instant(request: Request, name: str) -> datetime | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidFilter(f"{name}={text[:40]!r} is not an ISO 8601 instant") from None


async def _lines(services: Services, f: AccessFilter) -> AsyncIterator[bytes]:
    found: list[tuple[int, dict[str, Any]]] = await asyncio.to_thread(
        lambda: list(read_access(services.app, f)))
    for position, entry in found:
        yield json.dumps({**entry, "log_position": position}).encode() + b"\n"


def access_export(services: Services) -> Callable[[Request], Awaitable[Response]]:
    async def export(request: Request) -> Response:
        try:
            who = await Context.of_request(request, services)
        except AuthError as exc:
            return JSONResponse({"error": str(exc)}, status_code=401)
        if who.role is not Role.AUDITOR:
            return JSONResponse({"error": "auditors only"}, status_code=403)
        q = request.query_params
        try:
            f = access_filter(q.get("subject"), q.get("incident"), q.get("principal"),
                              _instant(request, "from"), _instant(request, "to"))
        except ApiError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        await services.access.flush()
        return StreamingResponse(_lines(services, f), media_type="application/x-ndjson")

    return export
