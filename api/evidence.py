"""`GET /evidence/{incident_id}/{sha256}`: one evidence image, to whom may see it.

An image is served only when every check passes, in this order (the answer's JSON `code` names
the first that failed):

1. a valid bearer token (`UNAUTHENTICATED`, 401);
2. an incident id and a sha256 that parse (`BAD_EVIDENCE_REQUEST`, 400);
3. the incident exists and is routed to the caller's agency, as on every other path
   (`EVIDENCE_NOT_FOUND`, 404: another agency's incident is indistinguishable from none);
4. the caller's privacy policy keeps snapshots in the clear (`domain.privacy`, one table for
   the API and the feeds): a policy that masks or drops them gets `SNAPSHOTS_FORBIDDEN`, 403;
5. the incident references an image with that digest (`EVIDENCE_NOT_FOUND`, 404);
6. its reference was not shredded and its file is still in the evidence store
   (`EVIDENCE_GONE`, 410: shredded or past retention; the digest remains as proof);
7. the file's bytes hash to the digest (`EVIDENCE_DIGEST_MISMATCH`, 409: altered on disk).

The file is found by digest only (`domain.evidence` layout under `ApiConfig.evidence_dir`),
never by its stored reference, so no value in the store can point outside the evidence store.
Every image served is noted in the personal-data access log (`api.access`, via `evidence`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.access import subjects_of
from api.auth import Principal
from api.errors import ApiError, AuthError
from api.schema.context import Context, Services
from domain.errors import IncidentNotFound
from domain.evidence import evidence_relpath, is_digest
from domain.incident import Incident
from domain.privacy import READER_POLICIES, SHREDDED, Action, Tag, action_for

__all__ = ["EvidenceDigestMismatch", "EvidenceForbidden", "EvidenceGone", "EvidenceNotFound",
           "EvidenceRefused", "evidence_route"]

MAX_BYTES = 16 * 1024 * 1024
"""Larger files are not served (a snapshot is a JPEG of tens of kilobytes)."""


class EvidenceRefused(ApiError):
    """Base of the evidence route's refusals: each has an HTTP `status` and a `code`."""

    status = 400
    code = "BAD_EVIDENCE_REQUEST"


class EvidenceForbidden(EvidenceRefused):
    """Raised when the caller's privacy policy masks or drops snapshots."""

    status, code = 403, "SNAPSHOTS_FORBIDDEN"


class EvidenceNotFound(EvidenceRefused):
    """Raised for an unknown incident, one not routed to the caller, or an unknown image."""

    status, code = 404, "EVIDENCE_NOT_FOUND"


class EvidenceGone(EvidenceRefused):
    """Raised when the image's reference was shredded or its file was deleted (retention)."""

    status, code = 410, "EVIDENCE_GONE"


class EvidenceDigestMismatch(EvidenceRefused):
    """Raised when the file on disk no longer hashes to its recorded sha256."""

    status, code = 409, "EVIDENCE_DIGEST_MISMATCH"


def _refusal(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": message, "code": code}, status_code=status,
                        headers={"Cache-Control": "no-store"})


def _parse(request: Request) -> tuple[UUID, str]:
    text, digest = request.path_params["incident_id"], request.path_params["sha256"]
    try:
        incident_id = UUID(text)
    except ValueError:
        raise EvidenceRefused(f"{text[:40]!r} is not an incident id") from None
    if not is_digest(digest):
        raise EvidenceRefused("the image is named by its sha256 (64 lower-case hex digits)")
    return incident_id, digest


def _check_incident(who: Principal, incident: Incident, digest: str) -> None:
    if not who.may_see(incident.agencies):
        raise EvidenceNotFound(f"no incident {incident.id}")
    if action_for(who.policy, frozenset({Tag.SNAPSHOT}), READER_POLICIES) is not Action.KEEP:
        raise EvidenceForbidden(f"role {who.role.value} of {who.agency} may not see snapshots")
    snap = incident.snapshot(digest)
    if snap is None:
        raise EvidenceNotFound(f"incident {incident.id} has no image {digest}")
    if snap.get("ref") == SHREDDED:
        raise EvidenceGone(f"image {digest} of incident {incident.id} was shredded")


def _read_checked(root: Path, digest: str) -> bytes:
    path = root / evidence_relpath(digest)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise EvidenceDigestMismatch(f"image {digest} is larger than {MAX_BYTES} bytes")
        data = path.read_bytes()
    except FileNotFoundError:
        raise EvidenceGone(f"image {digest} is no longer in the evidence store") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise EvidenceDigestMismatch(f"the stored file of image {digest} fails its sha256")
    return data


def evidence_route(services: Services) -> Callable[[Request], Awaitable[Response]]:
    root = services.config.evidence_dir

    def load(incident_id: UUID, digest: str, who: Principal) -> tuple[Incident, bytes]:
        try:
            incident = services.app.incident(incident_id)
        except IncidentNotFound:
            raise EvidenceNotFound(f"no incident {incident_id}") from None
        _check_incident(who, incident, digest)
        if root is None:
            raise EvidenceGone("no evidence store is configured for this API")
        return incident, _read_checked(root, digest)

    async def serve(request: Request) -> Response:
        try:
            who = await Context.of_request(request, services)
        except AuthError as exc:
            return _refusal(401, "UNAUTHENTICATED", str(exc))
        try:
            incident_id, digest = _parse(request)
            incident, data = await asyncio.to_thread(load, incident_id, digest, who)
        except EvidenceRefused as exc:
            return _refusal(exc.status, exc.code, str(exc))
        services.access.note(who, str(incident_id), ["snapshots"], subjects_of(incident.subject),
                             via="evidence")
        return Response(data, media_type="image/jpeg", headers={
            "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
            "ETag": f'"{digest}"'})

    return serve
