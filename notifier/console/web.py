"""What every console page shares: who is asking, in which language, and rendering.

    console = Console.build(runtime)
    visitor = await console.visitor(request)          # user (or None), role, CSRF, locale
    return console.render(request, visitor, "rules.html", rules=...)

Pages get a :class:`Visitor` from :meth:`Console.page` (signed in, allowed to read) or
:meth:`Console.action` (an unsafe request: CSRF checked first, then the permission).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from notifier.console import i18n
from notifier.console.auth import Permission, may
from notifier.console.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SessionData,
    csrf_matches,
    new_session,
    read_session,
    session_key,
    write_session,
)
from notifier.runtime import Runtime
from notifier.store.console_tables import ConsoleUser

TEMPLATES = Path(__file__).parent / "templates"
BASE = "/console"


class SignInRequired(Exception):
    """A page was asked for without a session; the app answers with the sign-in page."""


@dataclass
class Visitor:
    session: SessionData
    user: ConsoleUser | None
    locale: str
    fresh_cookie: bool = False

    def can(self, permission: str) -> bool:
        return self.user is not None and may(self.user.role, Permission(permission))

    @property
    def csrf(self) -> str:
        return self.session.csrf


def build_environment(locale: str) -> jinja2.Environment:
    """The console's own Jinja2 environment (autoescaped, not the sandboxed message one)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             extensions=["jinja2.ext.i18n"], undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["LOCALE"] = locale
    env.filters["when"] = _when
    env.filters["money"] = lambda value: "—" if value is None else f"{value:.2f}"
    env.filters["qs"] = lambda params: "&".join(
        f"{k}={quote(str(v))}" for k, v in params.items() if v not in (None, ""))
    return env


def _when(moment: datetime | str | None, tz: Any = None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if tz is not None:
        moment = moment.astimezone(tz)
    return moment.strftime("%Y-%m-%d %H:%M")


class Console:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.key = session_key(runtime.settings.server.secret_key.get_secret_value())
        self.environments = {locale: build_environment(locale) for locale in i18n.LOCALES}

    # -- who is asking -------------------------------------------------------------------

    async def visitor(self, request: Request) -> Visitor:
        data = read_session(request, self.key)
        fresh = data is None
        if data is None:
            data = new_session()
        user = None
        if data.user_id is not None:
            user = await run_in_threadpool(self._user, data.user_id)
            if user is None or user.session_version != data.version:
                user, data, fresh = None, new_session(), True
        locale = i18n.negotiate(request.headers.get("accept-language"),
                                user.locale if user else None)
        return Visitor(data, user, locale, fresh)

    def _user(self, user_id: int) -> ConsoleUser | None:
        with self.runtime.sessions() as session:
            return session.get(ConsoleUser, user_id)

    def page(self, permission: Permission = Permission.READ
             ) -> Callable[[Request], Awaitable[Visitor]]:
        """Dependency of a GET page: signed in (else the sign-in page) and permitted."""
        async def dependency(request: Request) -> Visitor:
            visitor = await self.visitor(request)
            if visitor.user is None:
                raise SignInRequired
            if not visitor.can(permission):
                raise HTTPException(403, "role")
            return visitor
        return dependency

    def action(self, permission: Permission
               ) -> Callable[[Request], Awaitable[Visitor]]:
        """Dependency of an unsafe request: the CSRF token first, then the permission."""
        async def dependency(request: Request) -> Visitor:
            visitor = await self.visitor(request)
            await self.check_csrf(request, visitor)
            if visitor.user is None:
                raise HTTPException(403, "signin")
            if not visitor.can(permission):
                raise HTTPException(403, "role")
            return visitor
        return dependency

    async def check_csrf(self, request: Request, visitor: Visitor) -> None:
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            form = await request.form()
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
        if visitor.fresh_cookie or not csrf_matches(visitor.csrf, given):
            raise HTTPException(403, "csrf")

    # -- answering -----------------------------------------------------------------------

    def render(self, request: Request, visitor: Visitor, template: str, *,
               status_code: int = 200, **context: Any) -> HTMLResponse:
        env = self.environments[visitor.locale]
        html = env.get_template(template).render(
            base=BASE, visitor=visitor, user=visitor.user, csrf=visitor.csrf,
            can=visitor.can, path=request.url.path, query=dict(request.query_params),
            htmx=request.headers.get("hx-request") == "true",
            tz=self.tz, csrf_field=Markup(
                f'<input type="hidden" name="{CSRF_FIELD}" value="{visitor.csrf}">'),
            **context)
        response = HTMLResponse(html, status_code=status_code)
        self.keep(response, request, visitor)
        return response

    def keep(self, response: Response, request: Request, visitor: Visitor) -> None:
        if visitor.fresh_cookie:
            write_session(response, request, visitor.session, self.key, path=BASE)

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    @property
    def tz(self) -> Any:
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.runtime.settings.shop.timezone)

    def now(self) -> datetime:
        return self.runtime.clock()
