"""The LayerLab server: `streamlit run server.py` (what `make run` does) serves app.py through `st.App`.

Beyond app.py's pages it adds what a shared demo needs from the web server itself:
- start-up and shutdown: the job manager starts with the server (queued runs resume and dead ones are
  settled before any visitor comes) and its workers stop with it;
- identity: every page load without a valid signed `layerlab_id` cookie gets a fresh one, issued here,
  HttpOnly, never readable or choosable by the page or the URL;
- downloads: `/layerlab/download/<token>` streams a run's file from disk (signed, expiring, owner-checked
  links), so a large model never passes through the server's memory;
- errors: an unexpected exception in a page is logged with an incident id, and visitors of a shared demo
  see only our message with that id.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie

import streamlit as st
from starlette.middleware import Middleware
from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Route

from core.config import load_settings
from core.errors import AppError
from core.shared_mode.identity import COOKIE_NAME, issue_identity, load_secret, verify_identity
from core.training.backends import job_manager_for, shutdown_managers

_LOG = logging.getLogger("layerlab")
DOWNLOAD_PREFIX = "/layerlab/download/"


@asynccontextmanager
async def lifespan(_app):
    settings = load_settings()
    load_secret(settings.home)  # created once, before concurrent requests could race for it
    job_manager_for(settings)
    from core.experiments.search import shutdown_searches
    from core.runtime.helper import shutdown_helper, warm_helper
    from ui.services import resume_all_searches

    resume_all_searches(settings)  # searches left running go on, within what is left of their budgets

    warm_helper().start()  # imports Keras in the background, before the first click that needs it
    try:
        yield
    finally:
        shutdown_searches()  # before the workers: a runner must not submit trials to a closed queue
        shutdown_managers()
        shutdown_helper()


def _request_cookie(scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed Cookie header is treated as no cookie
                return None
            if COOKIE_NAME in jar:
                return jar[COOKIE_NAME].value
    return None


def _is_https(scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    return any(name == b"x-forwarded-proto" and value.strip() == b"https" for name, value in scope.get("headers", ()))


class IdentityCookie:
    """Issues a signed identity cookie on every HTML page response whose request had no valid one."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        settings = load_settings()
        secret = load_secret(settings.home)
        if verify_identity(secret, _request_cookie(scope)) is not None:
            await self.app(scope, receive, send)
            return
        max_age = settings.retention_hours * 3600 if settings.retention_hours else 30 * 86400
        secure = "; Secure" if _is_https(scope) else ""

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                is_html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
                if is_html:
                    cookie = (
                        f"{COOKIE_NAME}={issue_identity(secret)}; Path=/; Max-Age={max_age}; HttpOnly; "
                        f"SameSite=Lax{secure}"
                    )
                    headers.append((b"set-cookie", cookie.encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


async def download(request):
    from core.shared_mode.downloads import resolve_download

    settings = load_settings()
    browser = verify_identity(load_secret(settings.home), request.cookies.get(COOKIE_NAME))
    try:
        path, file_name = resolve_download(request.path_params["token"], browser=browser)
    except AppError:
        return PlainTextResponse(
            "This download link is not valid any more. Go back to the Download page and click the button again.",
            status_code=404,
        )
    return FileResponse(path, filename=file_name, media_type="application/octet-stream")


def on_script_error(error: Exception) -> bool:
    """Log the traceback with an incident id; in a shared demo show visitors only our sentence."""
    import traceback

    from core.incidents import incident_message, record_incident

    detail = "".join(traceback.format_exception(error))
    incident = record_incident("page", detail)
    if not load_settings().shared:
        return False  # single-user mode: the person at the keyboard runs the server and may read the trace
    st.error(incident_message("This page", incident), icon=":material/error:")
    return True


app = st.App(
    "app.py",
    lifespan=lifespan,
    routes=[Route(DOWNLOAD_PREFIX + "{token}", download)],
    middleware=[Middleware(IdentityCookie)],
    on_script_error=on_script_error,
)
