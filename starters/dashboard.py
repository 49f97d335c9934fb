"""`GET /api/dashboard`: the web dashboard, one page served by the app itself.

The page is the static files in dashboard/ (shipped with the app: no build step, no CDN),
with its stylesheet and script inlined so that one request, with the function key, gets
everything. The key comes once, as `?code=` on the first load; the script moves it into
the tab's session storage, takes it out of the address bar, and sends it as the
`x-functions-key` header on its API calls, so it is never in a URL again.

Agent output is untrusted: the script renders every value as text, and the Content
Security Policy allows only this response's own script (its nonce) and calls to this app.
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path

import azure.functions as func

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"


@functools.cache
def _page() -> str:
    html = (DASHBOARD_DIR / "index.html").read_text(encoding="utf-8")
    css = (DASHBOARD_DIR / "dashboard.css").read_text(encoding="utf-8")
    script = (DASHBOARD_DIR / "dashboard.js").read_text(encoding="utf-8")
    return html.replace("/*STYLE*/", css).replace("/*SCRIPT*/", script)


def content_security_policy(nonce: str) -> str:
    return (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


async def get_dashboard(req: func.HttpRequest) -> func.HttpResponse:
    nonce = secrets.token_urlsafe(18)
    return func.HttpResponse(
        _page().replace("{{NONCE}}", nonce),
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": content_security_policy(nonce),
            # The first address carries the key: never send it on as a Referer, never cache.
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
