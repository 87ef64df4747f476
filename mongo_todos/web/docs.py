"""``GET /docs``: interactive API documentation (Swagger UI) served from the installed
``swagger-ui-bundle`` package, so it works with no internet access."""

from __future__ import annotations

from flask import Blueprint, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

blp = Blueprint("docs", __name__)

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>mongo_todos API</title>
  <link rel="stylesheet" href="{css}">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{bundle}"></script>
  <script src="{preset}"></script>
  <script src="{init}" data-spec="{spec}"></script>
</body>
</html>
"""


@blp.get("/docs")
def page():
    """The documentation page."""
    asset = lambda name: url_for("docs.asset", filename=name)  # noqa: E731
    html = _PAGE.format(
        css=asset("swagger-ui.css"),
        bundle=asset("swagger-ui-bundle.js"),
        preset=asset("swagger-ui-standalone-preset.js"),
        spec=url_for("api-docs.openapi_json"),
        init=url_for("docs.init"),
    )
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}


_INIT = """window.ui = SwaggerUIBundle({
  url: document.currentScript.dataset.spec,
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
  // off: on, Swagger UI keeps what Authorize was given (the Basic password included) in
  // localStorage, readable by any script of this origin long after the page is closed
  persistAuthorization: false,
  // the operationId is the function name a generated client has for it
  displayOperationId: true,
  displayRequestDuration: true
});
"""


@blp.get("/docs/init.js")
def init():
    """Starts Swagger UI on the page (a file, not inline: the page's CSP allows no inline script)."""
    return _INIT, 200, {"Content-Type": "text/javascript; charset=utf-8"}


@blp.get("/docs/static/<path:filename>")
def asset(filename):
    """Swagger UI's own files, from the installed package."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
