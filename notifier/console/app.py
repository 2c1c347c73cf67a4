"""The web console, mounted by :func:`notifier.app.create_app` under ``/console/``.

Server-rendered pages (Jinja2, htmx for partial swaps), static files vendored under
``static/`` (no CDN, no Node at run time). Sign-in, sign-out and the language switch
live here; every other page is a module of :mod:`notifier.console.pages`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from notifier.console import i18n
from notifier.console.auth import AuthError, authenticate, end_sessions
from notifier.console.pages import (
    audit,
    customers,
    dashboard,
    deliveries,
    editor_rules,
    editor_templates,
    health,
    offers,
    rules,
)
from notifier.console.session import new_session, write_session
from notifier.console.web import BASE, Console, SignInRequired, Visitor
from notifier.runtime import Runtime
from notifier.store.console_tables import ConsoleUser
from notifier.store.db import transaction

STATIC = Path(__file__).parent / "static"


def build_console(runtime: Runtime) -> FastAPI:
    console = Console(runtime)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _exc: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return console.redirect(f"{BASE}/login?next={quote(target)}")

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException) -> Response:
        visitor = await console.visitor(request)
        return console.render(request, visitor, "error.html", status_code=exc.status_code,
                              code=exc.status_code,
                              detail="notfound" if exc.status_code == 404 else str(exc.detail))

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = BASE + "/") -> Response:
        visitor = await console.visitor(request)
        return console.render(request, visitor, "login.html", next=_safe_next(next),
                              error=None, email="")

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request, email: Annotated[str, Form()] = "",
                    password: Annotated[str, Form()] = "",
                    next: Annotated[str, Form()] = BASE + "/") -> Response:
        visitor = await console.visitor(request)
        await console.check_csrf(request, visitor)
        user, error, status = await run_in_threadpool(_sign_in, runtime, email, password)
        if user is None:
            return console.render(request, visitor, "login.html", status_code=status,
                                  next=_safe_next(next), error=error, email=email)
        response = console.redirect(_safe_next(next))
        write_session(response, request, new_session(user.id, user.session_version),
                      console.key, path=BASE)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        visitor = await console.visitor(request)
        await console.check_csrf(request, visitor)
        if visitor.user is not None and visitor.user.id is not None:
            await run_in_threadpool(_end, runtime, visitor.user.id)
        response = console.redirect(f"{BASE}/login")
        write_session(response, request, new_session(), console.key, path=BASE)
        return response

    @app.post("/locale")
    async def set_locale(request: Request, locale: Annotated[str, Form()],
                         next: Annotated[str, Form()] = BASE + "/") -> Response:
        visitor = await console.visitor(request)
        await console.check_csrf(request, visitor)
        if visitor.user is None or locale not in i18n.LOCALES:
            raise HTTPException(400, "locale: pl or en")
        await run_in_threadpool(_save_locale, runtime, visitor, locale)
        return console.redirect(_safe_next(next))

    for page in (dashboard, rules, deliveries, customers, offers, health, audit,
                 editor_templates, editor_rules):
        app.include_router(page.build(console))
    return app


def _safe_next(target: str) -> str:
    # Only our own pages: an open redirect would let a link send users anywhere.
    if target.startswith(BASE + "/") and not target.startswith("//"):
        return target
    return BASE + "/"


def _sign_in(runtime: Runtime, email: str, password: str
             ) -> tuple[ConsoleUser | None, str | None, int]:
    # The failure count must be committed, so the error is caught inside the transaction.
    with transaction(runtime.sessions) as session:
        try:
            return authenticate(session, email=email, password=password,
                                now=runtime.clock()), None, 200
        except AuthError as exc:
            refused = exc
    if refused.locked_until is not None:
        return None, "locked", 429
    return None, "wrong", 401


def _end(runtime: Runtime, user_id: int) -> None:
    with transaction(runtime.sessions) as session:
        end_sessions(session, user_id)


def _save_locale(runtime: Runtime, visitor: Visitor, locale: str) -> None:
    with transaction(runtime.sessions) as session:
        user = session.get(ConsoleUser, visitor.user.id if visitor.user else None)
        if user is not None:
            user.locale = locale
            session.add(user)
