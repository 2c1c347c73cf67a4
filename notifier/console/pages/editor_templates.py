"""The template editor (marketers, owners): one message across its channels and locales.

The page holds every file of the message (all locales) in one form, each in a CodeMirror
editor; what is typed is previewed beside it (htmx, debounced) through the stored-versions
back end (:mod:`notifier.authoring`): the draft rendered with the published layouts and
partials for a shipped sample or a stored customer, order, cart or shipment, and checked
as ``notifier templates check`` checks it, each problem at its line. A test send queues the
previewed message to a typed address (:mod:`notifier.testsend`); publishing saves the draft
as a version and makes it live, refused with the problems listed; any version can be
restored. Saves, publishes, restores and test sends are audited by the services.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from notifier import authoring
from notifier.authoring.published import PublishedSet
from notifier.compose import RecipientError, RenderContext
from notifier.compose.samples import purpose_of, sample_context, scenarios
from notifier.console.auth import Permission
from notifier.console.pages import editor_saving
from notifier.console.pages.editor_preview import (
    FILES,
    Rendered,
    draft_composer,
    locate,
    render_draft,
)
from notifier.console.web import BASE, Console, Visitor
from notifier.domain import Channel, EmailMessage, SmsMessage
from notifier.errors import NotifierError, TemplateError
from notifier.previews import find_stored, stored_context
from notifier.store.db import transaction
from notifier.store.tables import Notification
from notifier.testsend import RefusedTestSend, mark_as_test, queue_test

KIND = "template"
SAMPLE_PREFIX = "sample:"


@dataclass(frozen=True)
class Draft:
    """What the form carried: the message's files, the locale shown, the sample chosen."""

    name: str
    files: dict[str, str]
    locale: str
    sample: str


def draft_of(name: str, form: dict[str, str], default_locale: str) -> Draft:
    """The draft in a submitted form: every field named ``<message>/...`` is a file
    (browsers send textareas with CRLF: stored with LF; an empty field is no file)."""
    files = {key: value.replace("\r\n", "\n") for key, value in form.items()
             if key.startswith(f"{name}/") and value.strip()}
    return Draft(name, files, form.get("locale") or default_locale,
                 form.get("sample") or SAMPLE_PREFIX)


def locales_of(name: str, files: dict[str, str]) -> list[str]:
    return sorted({path.split("/")[1] for path in files if path.count("/") >= 2})


def editor_fields(name: str, files: dict[str, str], locales: list[str]
                  ) -> dict[str, list[dict[str, Any]]]:
    """Per locale, the eight parts of a message in page order, present or not."""
    return {locale: [{"channel": channel.value, "key": key, "path": f"{name}/{locale}/{filename}",
                      "text": files.get(f"{name}/{locale}/{filename}", ""),
                      "mode": "html" if filename.endswith(".html") else "text"}
                     for channel, key, filename in FILES]
            for locale in locales}


def diff_lines(live: dict[str, str], draft: dict[str, str]) -> list[tuple[str, str]]:
    """:func:`notifier.authoring.diff` of live to draft, as (kind, line) to colour."""
    out = []
    for line in authoring.diff(live, draft).splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        else:
            kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append((kind, line))
    return out


def build(console: Console) -> APIRouter:
    router = APIRouter()
    runtime = console.runtime
    settings = runtime.settings
    region = settings.shop.country
    # The published templates as a directory (written once per live set, as workers do).
    published = PublishedSet(runtime.sessions, KIND, settings.paths.data_dir / "published")

    actor = editor_saving.actor

    # -- reading -----------------------------------------------------------------------

    def seeded() -> None:
        authoring.ensure_seeded(runtime.sessions, settings, now=console.now())

    def listing() -> list[dict[str, Any]]:
        seeded()
        with runtime.sessions() as session:
            found = authoring.names(session, KIND)
            out = []
            for name in found:
                if name.startswith("_"):
                    continue
                current = authoring.live(session, KIND, name)
                history = authoring.history(session, KIND, name)
                out.append({"name": name, "live": current, "newest": history[0] if history
                            else None, "locales": locales_of(name, current.files
                                                             if current else {})})
            return out

    def opened(name: str, version_id: int | None) -> dict[str, Any]:
        seeded()
        with runtime.sessions() as session:
            if name not in authoring.names(session, KIND) or name.startswith("_"):
                raise HTTPException(404, "notfound")
            history = authoring.history(session, KIND, name)
            current = authoring.live(session, KIND, name)
            if version_id is not None:
                try:
                    shown = authoring.get(session, version_id)
                except authoring.VersionError as exc:
                    raise HTTPException(404, "notfound") from exc
                if shown.kind != KIND or shown.name != name:
                    raise HTTPException(404, "notfound")
            else:
                shown = history[0] if history else current
            return {"history": history, "live": current, "shown": shown}

    def page_context(name: str, draft: Draft, state: dict[str, Any]) -> dict[str, Any]:
        locales = locales_of(name, draft.files) or [settings.shop.default_locale]
        locale = draft.locale if draft.locale in locales else (
            settings.shop.default_locale if settings.shop.default_locale in locales
            else locales[0])
        return {"name": name, "draft": replace(draft, locale=locale), "locales": locales,
                "fields": editor_fields(name, draft.files, locales),
                "samples": [label for label, _ctx in scenarios(name, locale, settings.shop)],
                "token": secrets.token_urlsafe(16), **state}

    @router.get("/editor/templates", response_class=HTMLResponse)
    async def templates_page(request: Request,
                             visitor: Visitor = Depends(console.page(Permission.TEMPLATES))
                             ) -> HTMLResponse:
        return console.render(request, visitor, "editor_templates.html",
                              messages=await run_in_threadpool(listing))

    @router.get("/editor/templates/{name}", response_class=HTMLResponse)
    async def editor_page(name: str, request: Request, locale: str = "", version: int | None = None,
                          sample: str = "",
                          visitor: Visitor = Depends(console.page(Permission.TEMPLATES))
                          ) -> HTMLResponse:
        state = await run_in_threadpool(opened, name, version)
        shown = state["shown"]
        draft = Draft(name, dict(shown.files) if shown else {}, locale, sample or SAMPLE_PREFIX)
        context = page_context(name, draft, state)
        context["preview"] = await run_in_threadpool(preview_of, context["draft"])
        return console.render(request, visitor, "editor_template.html", refused=[],
                              published=request.query_params.get("published"),
                              restored=request.query_params.get("restored"), **context)

    # -- preview -----------------------------------------------------------------------

    def context_for(session: Session, draft: Draft) -> tuple[RenderContext, str]:
        """The render context the sample choice names, and what the page calls it."""
        purpose = purpose_of(draft.name)
        if not draft.sample.startswith(SAMPLE_PREFIX):
            ctx = stored_context(session, settings, draft.sample, purpose=purpose,
                                 now=console.now())
            if ctx is not None:
                return ctx, draft.sample
        label = draft.sample.removeprefix(SAMPLE_PREFIX)
        for name, ctx in scenarios(draft.name, draft.locale, settings.shop):
            if name == label:
                return ctx, draft.sample
        return sample_context(draft.name, draft.locale, settings.shop), SAMPLE_PREFIX

    def preview_of(draft: Draft, *, check: bool = True) -> dict[str, Any]:
        """The draft rendered (and checked, unless the page asks for the check apart)."""
        with runtime.sessions() as session:
            ctx, chosen = context_for(session, draft)
            problems = (authoring.check_draft(session, settings, KIND, draft.name, draft.files)
                        if check else [])
        with draft_composer(published.directory(), settings, draft.name,
                            draft.files) as composer:
            rendered = render_draft(composer, draft.name, draft.locale, ctx, problems)
        return {"rendered": rendered, "chosen": chosen, "checked": check,
                "problems_json": problems_json(rendered)}

    def problems_of(draft: Draft) -> Rendered:
        with runtime.sessions() as session:
            problems = authoring.check_draft(session, settings, KIND, draft.name, draft.files)
        return Rendered(draft.locale, problems=[locate(p, draft.name) for p in problems])

    @router.post("/editor/templates/{name}/preview", response_class=HTMLResponse)
    async def preview(name: str, request: Request,
                      visitor: Visitor = Depends(console.action(Permission.TEMPLATES))
                      ) -> HTMLResponse:
        draft = draft_of(name, await _form(request), settings.shop.default_locale)
        # Rendered first; the check (the slower half) is fetched by the partial itself.
        found = await run_in_threadpool(lambda: preview_of(draft, check=False))
        return console.render(request, visitor, "_editor_preview.html", name=name,
                              draft=draft, **found)

    @router.post("/editor/templates/{name}/check", response_class=HTMLResponse)
    async def check(name: str, request: Request,
                    visitor: Visitor = Depends(console.action(Permission.TEMPLATES))
                    ) -> HTMLResponse:
        draft = draft_of(name, await _form(request), settings.shop.default_locale)
        rendered = await run_in_threadpool(problems_of, draft)
        return console.render(request, visitor, "_editor_problems.html", name=name,
                              rendered=rendered, checked=True,
                              problems_json=problems_json(rendered))

    @router.get("/editor/templates/{name}/samples", response_class=HTMLResponse)
    async def samples(name: str, request: Request, q: str = "",
                      visitor: Visitor = Depends(console.page(Permission.TEMPLATES))
                      ) -> HTMLResponse:
        def find() -> list[Any]:
            with runtime.sessions() as session:
                return find_stored(session, q, region=region)

        found = await run_in_threadpool(find) if q.strip() else []
        return console.render(request, visitor, "_editor_samples.html", found=found, q=q)

    # -- test send ---------------------------------------------------------------------

    def send_test(draft: Draft, form: dict[str, str], visitor: Visitor) -> int:
        channel = Channel(form.get("test_channel") or "email")
        to = (form.get("test_to") or "").strip()
        if channel is Channel.EMAIL and ("@" not in to or " " in to):
            raise RefusedTestSend("test_to: an e-mail address")
        if channel is Channel.SMS and not (to.startswith("+") and to[1:].isdigit()):
            raise RefusedTestSend("test_to: a phone number such as +48601234567")
        if channel is Channel.PUSH:
            raise RefusedTestSend("test_channel: push test sends need a browser "
                                  "subscription; preview the card instead")
        with runtime.sessions() as session:
            ctx, _ = context_for(session, draft)
        ctx = addressed(ctx, channel, to)
        with draft_composer(published.directory(), settings, draft.name,
                            draft.files) as composer:
            try:
                message = composer.render(draft.name, channel, ctx, locale=draft.locale)
            except (TemplateError, RecipientError) as exc:
                raise RefusedTestSend(str(exc)) from exc
        assert isinstance(message, EmailMessage | SmsMessage)
        marked = mark_as_test(replace(message, to=to))
        assert visitor.user is not None and visitor.user.id is not None
        with transaction(runtime.sessions) as session:
            return queue_test(session, message=marked, token=form.get("token", ""),
                              actor=actor(visitor), actor_id=visitor.user.id,
                              template=draft.name, now=console.now())

    @router.post("/editor/templates/{name}/test", response_class=HTMLResponse)
    async def test(name: str, request: Request,
                   visitor: Visitor = Depends(console.action(Permission.TEMPLATES))
                   ) -> HTMLResponse:
        form = await _form(request)
        draft = draft_of(name, form, settings.shop.default_locale)
        try:
            row_id = await run_in_threadpool(send_test, draft, form, visitor)
        except (RefusedTestSend, ValueError) as exc:
            return console.render(request, visitor, "_editor_test.html", status_code=400,
                                  name=name, error=str(exc), row=None,
                                  token=form.get("token", ""))
        row = await run_in_threadpool(test_row, row_id)
        return console.render(request, visitor, "_editor_test.html", name=name, error=None,
                              row=row, token=secrets.token_urlsafe(16))

    def test_row(row_id: int) -> Notification | None:
        with runtime.sessions() as session:
            row = session.get(Notification, row_id)
            return row if row is not None and row.kind == "test" else None

    @router.get("/editor/templates/{name}/test/{row_id}", response_class=HTMLResponse)
    async def test_status(name: str, row_id: int, request: Request,
                          visitor: Visitor = Depends(console.page(Permission.TEMPLATES))
                          ) -> HTMLResponse:
        row = await run_in_threadpool(test_row, row_id)
        if row is None:
            raise HTTPException(404, "notfound")
        return console.render(request, visitor, "_editor_test.html", name=name, error=None,
                              row=row, token=request.query_params.get("token", ""))

    # -- review, save, publish, restore --------------------------------------------------

    def review_of(draft: Draft) -> dict[str, Any]:
        with runtime.sessions() as session:
            current = authoring.live(session, KIND, draft.name)
            problems = authoring.check_draft(session, settings, KIND, draft.name, draft.files)
        return {"diff": diff_lines(current.files if current else {}, draft.files),
                "live": current, "problems": problems}

    @router.post("/editor/templates/{name}/review", response_class=HTMLResponse)
    async def review(name: str, request: Request,
                     visitor: Visitor = Depends(console.action(Permission.TEMPLATES))
                     ) -> HTMLResponse:
        draft = draft_of(name, await _form(request), settings.shop.default_locale)
        return console.render(request, visitor, "_editor_review.html", name=name,
                              **await run_in_threadpool(review_of, draft))

    def save_and_publish(draft: Draft, note: str, visitor: Visitor, publish: bool
                         ) -> tuple[int, list[str]]:
        with transaction(runtime.sessions) as session:
            version = editor_saving.save(session, KIND, draft.name, draft.files,
                                         author=actor(visitor), note=note, now=console.now())
        if not publish:
            return version.number, []
        with transaction(runtime.sessions) as session:
            problems = authoring.publish(session, settings, KIND, draft.name, version.id,
                                         author=actor(visitor), now=console.now())
        return version.number, problems

    async def save_or_publish(name: str, request: Request, visitor: Visitor,
                              publish: bool) -> Response:
        form = await _form(request)
        draft = draft_of(name, form, settings.shop.default_locale)
        try:
            number, problems = await run_in_threadpool(
                save_and_publish, draft, form.get("note", "").strip(), visitor, publish)
        except NotifierError as exc:
            problems, number = [str(exc)], None
        if not problems:
            done = "published" if publish else "saved"
            return console.redirect(f"{BASE}/editor/templates/{name}?locale={draft.locale}"
                                    f"&{done}={number}")
        state = await run_in_threadpool(opened, name, None)
        context = page_context(name, draft, state)
        context["preview"] = await run_in_threadpool(preview_of, context["draft"])
        return console.render(request, visitor, "editor_template.html", status_code=400,
                              refused=problems, published=None, restored=None, **context)

    @router.post("/editor/templates/{name}/publish")
    async def publish(name: str, request: Request,
                      visitor: Visitor = Depends(console.action(Permission.TEMPLATES))
                      ) -> Response:
        return await save_or_publish(name, request, visitor, publish=True)

    @router.post("/editor/templates/{name}/save")
    async def save(name: str, request: Request,
                   visitor: Visitor = Depends(console.action(Permission.TEMPLATES))
                   ) -> Response:
        return await save_or_publish(name, request, visitor, publish=False)

    editor_saving.add_restore_route(router, console, KIND, Permission.TEMPLATES)

    return router


def addressed(ctx: RenderContext, channel: Channel, to: str) -> RenderContext:
    """``ctx`` with the typed address as the customer's (or the guest cart's) contact."""
    field = "email" if channel is Channel.EMAIL else "phone"
    if ctx.customer is not None:
        return replace(ctx, customer=replace(ctx.customer, **{field: to}))
    if ctx.cart is not None:
        return replace(ctx, cart=replace(ctx.cart, **{field: to}))
    return ctx


def problems_json(rendered: Rendered) -> str:
    """The problems per file and line, for the editors' lint gutters."""
    out: dict[str, list[dict[str, Any]]] = {}
    for problem in rendered.problems:
        if problem.file is not None:
            out.setdefault(problem.file, []).append(
                {"line": problem.line, "message": problem.text})
    # </script> cannot end the JSON early: "<" is escaped.
    return json.dumps(out, ensure_ascii=False).replace("<", "\\u003c")


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}
