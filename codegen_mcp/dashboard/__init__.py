"""The dashboard: one static page at /dashboard that reads everything through POST /.

The page itself holds no task data, so it is served without the bearer token (a browser
cannot send one when it opens a URL); every data call it makes carries the token, and the
page asks for it when the server answers 401. See static/api.js.
"""

from __future__ import annotations

from flask import Blueprint, Response

NAME = "dashboard"

# Scripts and styles from our own origin only: agent-written text can never run as code.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def blueprint() -> Blueprint:
    pages = Blueprint(
        NAME,
        __name__,
        url_prefix="/dashboard",
        static_folder="static",
        static_url_path="/static",
    )

    @pages.get("")
    @pages.get("/")
    def index() -> Response:
        return pages.send_static_file("index.html")

    @pages.after_request
    def _secure(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    return pages
