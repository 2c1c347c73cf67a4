"""The rule editor (operators, owners): a rule's fields as a form beside its TOML.

Either side can be edited: a field change is written into the TOML (comments kept,
:mod:`.editor_ruleform`), a TOML edit redraws the form. Every change is checked as
``notifier rules check`` does (through :func:`notifier.authoring.check_draft`), each
problem shown at its field and at its line. **Simulate** replays a chosen period of
stored history through the draft with :func:`notifier.detect.simulate.simulate` and shows
what ``notifier rules simulate`` prints for it. Publishing saves the draft as a version
and makes it live (refused with the problems listed); any version can be restored.
Workers pick up the published rule at their next tick.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import typer
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from notifier import authoring
from notifier.console.auth import Permission
from notifier.console.pages import editor_saving
from notifier.console.pages.editor_ruleform import (
    FormError,
    kept_comments,
    locate,
    problems_by_field,
    read_fields,
    write_fields,
)
from notifier.console.web import BASE, Console, Visitor
from notifier.detect.conditions import ENTITY_TYPES
from notifier.detect.overrides import MODES
from notifier.detect.simulate import format_simulation, parse_moment, simulate
from notifier.detect.triggers import TRIGGERS
from notifier.errors import NotifierError, RuleError
from notifier.offers import load_policies
from notifier.store.db import transaction
from notifier.transit.service import load_model

KIND = "rule"
TOML_FIELD = "toml"
#: The TOML as the page opened it: what a changed value is told from.
OPENED_FIELD = "toml_opened"


def file_of(name: str) -> str:
    return f"{name}.toml"


def build(console: Console) -> APIRouter:
    router = APIRouter()
    runtime = console.runtime
    settings = runtime.settings

    actor = editor_saving.actor

    def choices() -> dict[str, Any]:
        with runtime.sessions() as session:
            templates = [n for n in authoring.names(session, "template")
                         if not n.startswith("_")]
        return {"triggers": sorted(TRIGGERS), "modes": MODES, "templates": templates,
                "offers": sorted(load_policies(settings.offers)), "entities": ENTITY_TYPES}

    def opened(name: str, version_id: int | None) -> dict[str, Any]:
        authoring.ensure_seeded(runtime.sessions, settings, now=console.now())
        with runtime.sessions() as session:
            if name not in authoring.names(session, KIND):
                raise HTTPException(404, "notfound")
            history = authoring.history(session, KIND, name)
            current = authoring.live(session, KIND, name)
            shown = history[0] if history else current
            if version_id is not None:
                try:
                    shown = authoring.get(session, version_id)
                except authoring.VersionError as exc:
                    raise HTTPException(404, "notfound") from exc
                if shown.kind != KIND or shown.name != name:
                    raise HTTPException(404, "notfound")
        return {"history": history, "live": current, "shown": shown}

    def checked(name: str, text: str) -> dict[str, Any]:
        """The check's problems for the draft, by field and by TOML line."""
        with runtime.sessions() as session:
            problems = authoring.check_draft(session, settings, KIND, name,
                                             {file_of(name): text})
        lines: list[dict[str, Any]] = []
        for problem in problems:
            _where, line, _reason = locate(problem)
            lines.append({"line": line or 1, "message": problem})
        toml_problems = json.dumps({TOML_FIELD: lines}, ensure_ascii=False).replace(
            "<", "\\u003c")
        return {"problems": problems, "by_field": problems_by_field(problems),
                "problems_json": toml_problems}

    def page_context(name: str, text: str, state: dict[str, Any]) -> dict[str, Any]:
        now = console.now()
        zone = console.tz
        return {"name": name, "text": text, "fields": read_fields(text),
                "sim_from": (now - timedelta(days=30)).astimezone(zone).date().isoformat(),
                "sim_to": now.astimezone(zone).date().isoformat(),
                **choices(), **checked(name, text), **state}

    @router.get("/editor/rules/{name}", response_class=HTMLResponse)
    async def editor_page(name: str, request: Request, version: int | None = None,
                          visitor: Visitor = Depends(console.page(Permission.RULES))
                          ) -> HTMLResponse:
        state = await run_in_threadpool(opened, name, version)
        text = state["shown"].files.get(file_of(name), "") if state["shown"] else ""
        context = await run_in_threadpool(page_context, name, text, state)
        return console.render(request, visitor, "editor_rule.html", refused=[],
                              published=request.query_params.get("published"),
                              restored=request.query_params.get("restored"), **context)

    @router.post("/editor/rules/{name}/from-form", response_class=HTMLResponse)
    async def from_form(name: str, request: Request,
                        visitor: Visitor = Depends(console.action(Permission.RULES))
                        ) -> HTMLResponse:
        form = await _form(request)
        text = form.get(TOML_FIELD, "").replace("\r\n", "\n")
        error, kept = None, ()
        try:
            text = write_fields(text, form)
            kept = kept_comments(form.get(OPENED_FIELD, ""), text)
        except FormError as exc:
            error = str(exc)
        found = await run_in_threadpool(checked, name, text)
        return console.render(request, visitor, "_rule_sync.html", name=name, error=error,
                              kept=kept, toml_json=json.dumps(text).replace("<", "\\u003c"),
                              **found)

    @router.post("/editor/rules/{name}/from-toml", response_class=HTMLResponse)
    async def from_toml(name: str, request: Request,
                        visitor: Visitor = Depends(console.action(Permission.RULES))
                        ) -> HTMLResponse:
        form = await _form(request)
        text = form.get(TOML_FIELD, "").replace("\r\n", "\n")
        context = await run_in_threadpool(page_context, name, text, {})
        return console.render(request, visitor, "_rule_fields.html", oob=True, **context)

    def run_simulation(name: str, text: str, start_text: str, end_text: str,
                       first_run: bool) -> dict[str, Any]:
        zone = settings.shop.timezone
        start = parse_moment(start_text, zone, present=console.now())
        end = parse_moment(end_text, zone, present=console.now())  # as --from/--to read
        with runtime.sessions() as session:
            rules = authoring.rules_for(session, settings, name=name,
                                        files={file_of(name): text})
            transit = load_model(session)
        sim = simulate(runtime.sessions, rules, start, end, rule_name=name, show=5,
                       first_run=first_run, transit=transit)
        return {"simulation": sim, "printed": format_simulation(sim),
                "steps": [r for (_rule, _step), r in sorted(sim.steps.items())],
                "start": start, "end": end}

    @router.post("/editor/rules/{name}/simulate", response_class=HTMLResponse)
    async def simulate_page(name: str, request: Request,
                            visitor: Visitor = Depends(console.action(Permission.RULES))
                            ) -> HTMLResponse:
        form = await _form(request)
        text = form.get(TOML_FIELD, "").replace("\r\n", "\n")
        try:
            found = await run_in_threadpool(
                run_simulation, name, text, form.get("sim_from", "-30d"),
                form.get("sim_to", "now"), form.get("first_run") == "on")
        except (RuleError, typer.BadParameter, ValueError) as exc:
            problems = exc.problems if isinstance(exc, RuleError) else [str(exc)]
            return console.render(request, visitor, "_rule_simulation.html", status_code=400,
                                  error=problems, name=name)
        return console.render(request, visitor, "_rule_simulation.html", error=None,
                              name=name, **found)

    def save_and_publish(name: str, text: str, note: str, visitor: Visitor, publish: bool
                         ) -> tuple[int, list[str]]:
        with transaction(runtime.sessions) as session:
            version = editor_saving.save(session, KIND, name, {file_of(name): text},
                                         author=actor(visitor), note=note, now=console.now())
        if not publish:
            return version.number, []
        with transaction(runtime.sessions) as session:
            problems = authoring.publish(session, settings, KIND, name, version.id,
                                         author=actor(visitor), now=console.now())
        return version.number, problems

    async def save_or_publish(name: str, request: Request, visitor: Visitor,
                              publish: bool) -> Response:
        form = await _form(request)
        text = form.get(TOML_FIELD, "").replace("\r\n", "\n")
        try:
            number, problems = await run_in_threadpool(
                save_and_publish, name, text, form.get("note", "").strip(), visitor, publish)
        except NotifierError as exc:
            number, problems = None, [str(exc)]
        if not problems:
            done = "published" if publish else "saved"
            return console.redirect(f"{BASE}/editor/rules/{name}?{done}={number}")
        state = await run_in_threadpool(opened, name, None)
        context = await run_in_threadpool(page_context, name, text, state)
        return console.render(request, visitor, "editor_rule.html", status_code=400,
                              refused=problems, published=None, restored=None, **context)

    @router.post("/editor/rules/{name}/publish")
    async def publish(name: str, request: Request,
                      visitor: Visitor = Depends(console.action(Permission.RULES))) -> Response:
        return await save_or_publish(name, request, visitor, publish=True)

    @router.post("/editor/rules/{name}/save")
    async def save(name: str, request: Request,
                   visitor: Visitor = Depends(console.action(Permission.RULES))) -> Response:
        return await save_or_publish(name, request, visitor, publish=False)

    editor_saving.add_restore_route(router, console, KIND, Permission.RULES)

    return router


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    out: dict[str, str] = {}
    for key, value in form.multi_items():  # the last value wins (hidden "false", checkbox)
        if isinstance(value, str):
            out[key] = value
    return out
