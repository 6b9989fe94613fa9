"""The API's Swagger page, from files in the installed package: FastAPI's default
page loads Swagger UI from a CDN and starts it with an inline script, both of which
the pages' Content-Security-Policy (``'self'`` only) rightly blocks."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import escape

router = APIRouter(include_in_schema=False)

# Swagger UI's bundle and stylesheet, as the fastapi-offline package ships them
SWAGGER_FILES = str(files("fastapi_offline") / "static")

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} API</title>
<link rel="stylesheet" href="{root}/api/docs/files/swagger-ui.css">
<link rel="icon" href="{root}/static/favicon.svg" type="image/svg+xml">
</head><body>
<div id="swagger-ui" data-openapi="{root}/api/openapi.json"></div>
<script src="{root}/api/docs/files/swagger-ui-bundle.js"></script>
<script src="{root}/static/swagger-init.js"></script>
</body></html>
"""


@router.get("/api/docs", response_class=HTMLResponse)
def swagger_page(request: Request) -> HTMLResponse:
    """Swagger UI over /api/openapi.json; every file it loads is the app's own."""
    root = escape(request.scope.get("root_path", ""))
    return HTMLResponse(PAGE.format(title=escape(request.app.title), root=root))
