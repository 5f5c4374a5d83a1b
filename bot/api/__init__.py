"""The JSON API under ``/cms/crm`` (SPEC 8), mounted on the web process by :func:`mount`.

One module per resource registers its operations with :func:`bot.api.core.operation`;
:mod:`bot.api.core` validates requests with their pydantic models and generates
``openapi.json`` from the same models; ``/cms/crm/docs`` is Swagger UI from the
``swagger-ui-bundle`` package's own files (no CDN, no validator badge calling out).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from flask import Flask, Response, abort, send_from_directory

from bot.api import (  # noqa: F401  (each import registers its operations)
    campaigns,
    communications,
    customers,
    followups,
    leads,
    opportunities,
    pipeline,
    segments,
)
from bot.api.core import PREFIX, install, openapi

DOCS_ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
_ASSETS = frozenset(
    {
        "swagger-ui.css",
        "index.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
        "favicon-16x16.png",
    }
)

DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>CRM JSON API</title>
  <link rel="stylesheet" href="{prefix}/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="{prefix}/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{prefix}/docs/swagger-ui-bundle.js"></script>
  <script src="{prefix}/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{prefix}/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "BaseLayout"
    }});
  </script>
</body>
</html>
"""


def mount(app: Flask, settings: Any) -> None:
    """The ``bot.web.EXTENSIONS`` factory: every API route, the document and its page."""
    install(app)
    document = json.dumps(openapi(), separators=(",", ":"))

    @app.get(f"{PREFIX}/openapi.json")
    def api_openapi() -> Response:
        return Response(document, 200, mimetype="application/json")

    @app.get(f"{PREFIX}/docs")
    def api_docs() -> Response:
        return Response(DOCS_PAGE.format(prefix=PREFIX), 200, mimetype="text/html")

    @app.get(f"{PREFIX}/docs/<name>")
    def api_docs_asset(name: str) -> Response:
        if name not in _ASSETS:
            abort(404)
        return send_from_directory(DOCS_ASSETS, name, max_age=3600)
