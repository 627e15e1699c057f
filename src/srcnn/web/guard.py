"""The outermost ASGI layer: security headers on every response, cross-origin POSTs refused, crashes -> JSON 500."""

from __future__ import annotations

import logging

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import error

__all__ = ["Guard", "CSP", "DOCS_CSP"]

log = logging.getLogger("srcnn.web")

CSP = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# Swagger UI (/docs) is served from this server (fastapi-offline bundles it: no CDN, works offline), but it boots
# with an inline script and sets inline styles: only that page gets this.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})
_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


class Guard:
    """ASGI middleware: security headers on every response, cross-origin POSTs refused, crashes -> JSON 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"] in _DOCS_PATHS else CSP
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers["content-security-policy"] = csp
                for k, v in _SECURITY_HEADERS.items():
                    headers[k] = v
            await send(message)

        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and not _same_origin(scope):
            await error(403, "cross-origin request refused")(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            await error(500, "internal server error")(scope, receive, send_with_headers)


def _same_origin(scope: Scope) -> bool:
    """True unless the browser says the request comes from another origin (CSRF from other web pages)."""
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin")
    if origin is None:
        return True  # not a browser cross-origin request (curl, scripts, same-origin GET-initiated forms)
    host = headers.get(b"host", b"").decode("latin-1").lower()
    origin_s = origin.decode("latin-1").lower()
    return origin_s in (f"http://{host}", f"https://{host}")
