"""The operator console: one HTML page and its language catalogues (plain JSON, no build step).

The page is served with the deployment's time zone filled in (`ApiConfig.timezone`), so that
every operator sees the city's clock whatever the browser's locale; the catalogues
(`static/i18n/<lang>.json`, Russian by default, Kazakh and English) are served beside it and
the page switches between them without a reload. The map's district boundaries (GeoJSON,
`ApiConfig.districts`) are served beside them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

__all__ = ["LANGUAGES", "catalogue", "console_routes"]

LANGUAGES = ("ru", "kk", "en")
"""The console's languages; the first is the default."""


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The strings of one language (a `KeyError` for a language the console does not have)."""
    if lang not in LANGUAGES:
        raise KeyError(lang)
    text = resources.files("api").joinpath(f"static/i18n/{lang}.json").read_text("utf-8")
    strings: dict[str, str] = json.loads(text)
    return strings


_NO_DISTRICTS: Mapping[str, Any] = {"type": "FeatureCollection", "features": []}


def console_routes(timezone: str, districts: Mapping[str, Any] | None = None) -> list[Route]:
    """`/console` (the page, in `timezone`), `/console/i18n/{lang}.json` and
    `/console/districts.geojson` (the map's district boundaries, served from the deployment's
    own file: the page fetches nothing from outside)."""
    page = resources.files("api").joinpath("static/console.html").read_text("utf-8")
    page = page.replace("{{TIMEZONE}}", escape(timezone, quote=True))

    def console(_: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    def strings(request: Request) -> Response:
        lang = request.path_params["lang"]
        if lang not in LANGUAGES:
            return JSONResponse({"error": f"no console language {lang!r}",
                                 "languages": list(LANGUAGES)}, status_code=404)
        return JSONResponse(catalogue(lang), headers={"Cache-Control": "max-age=300"})

    boundaries = JSONResponse(dict(districts or _NO_DISTRICTS),
                              headers={"Cache-Control": "max-age=300"})

    def district_map(_: Request) -> Response:
        return boundaries

    return [Route("/console", console), Route("/console/i18n/{lang}.json", strings),
            Route("/console/districts.geojson", district_map)]
