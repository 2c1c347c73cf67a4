"""``notifier rules simulate``: replay stored history through the rules, sending nothing.

For every stored case the rules are evaluated as things stood at each step's due time
(:func:`~notifier.detect.history.facts_as_of` rebuilds that moment from timestamps), so a
cart that was bought before its second reminder counts only for the first. The answer,
per rule and step: how many messages would have gone out in the window, on which
channels, with which offers, how many customers the holdout would have kept back, how
many would be skipped as stale (``max_delay``) or as too old (``lookback``), and the first
recipients. Each occurrence (episode) of a case counts on its own. It reads the database
and writes nothing.

With ``first_run`` the rules meet the history at ``start`` for the first time, as after a
backfill or a first BaseLinker sync: what is already due then is what the first tick
would send (or skip), so an operator sees the flood — or its absence — before going live.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Protocol
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from notifier.config import Settings
from notifier.config_types import parse_moment as relative_moment
from notifier.detect.evaluate import evaluate
from notifier.detect.history import facts_as_of
from notifier.detect.rules import Rule, RuleSet
from notifier.detect.sampling import assign, customer_key
from notifier.domain import Facts
from notifier.errors import NotifierError
from notifier.store.facts import facts_in
from notifier.store.snapshots import ENTITY_TABLES
from notifier.store.tables import Consent
from notifier.transit.model import TransitModel


@dataclass
class StepReport:
    rule: str
    step: int
    template: str
    offer: str | None
    messages: int = 0
    held_out: int = 0
    excluded: int = 0
    unreachable: int = 0
    stale: int = 0
    too_old: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    recipients: list[str] = field(default_factory=list)


@dataclass
class Simulation:
    start: datetime
    end: datetime
    first_run: bool = False
    steps: dict[tuple[str, int], StepReport] = field(default_factory=dict)

    def report(self, rule: Rule, step: int) -> StepReport:
        key = (rule.name, step)
        if key not in self.steps:
            s = rule.steps[step]
            self.steps[key] = StepReport(rule.name, step, s.template, s.offer or None)
        return self.steps[key]


def simulate(factory: sessionmaker[Session], rules: RuleSet, start: datetime, end: datetime,
             *, rule_name: str | None = None, show: int = 5, batch_size: int = 1000,
             first_run: bool = False, transit: TransitModel | None = None) -> Simulation:
    """Replay the window; ``transit`` is the model ``shipment.at_risk`` predicts with (the
    one in force now: fitted on that history, so its replay is optimistic — the honest
    figure is the backtest of ``notifier carriers report``)."""
    result = Simulation(start, end, first_run=first_run)
    chosen = [r for r in rules if rule_name is None or r.name == rule_name]
    for rule in chosen:
        for s in range(len(rule.steps)):
            result.report(rule, s)
    for kind in sorted({r.entity for r in chosen}):
        kind_rules = [r for r in chosen if r.entity == kind]
        table = ENTITY_TABLES[kind]
        last_id = 0
        with factory() as session:
            while True:
                rows = session.exec(select(table).where(col(table.id) > last_id)
                                    .order_by(col(table.id)).limit(batch_size)).all()
                if not rows:
                    break
                last_id = rows[-1].id or last_id
                for facts in facts_in(session, kind, rows, transit):
                    for rule in kind_rules:
                        _replay(session, rule, facts, result, show)
    return result


def _moments(facts: Facts, start: datetime, end: datetime) -> list[datetime]:
    """Moments at which to read the schedule: the window's ends and just before every
    recorded change inside it (a cart bought at 15:00 still had its schedule at 14:59)."""
    stamps = {start, end}
    for snap in (facts.customer, facts.order, facts.shipment, facts.cart):
        if snap is None:
            continue
        for value in vars(snap).values():
            if isinstance(value, datetime) and start < value <= end:
                stamps.add(value - timedelta(microseconds=1))
        for event in getattr(snap, "events", ()):
            if start < event.at <= end:
                stamps.add(event.at - timedelta(microseconds=1))
    return sorted(stamps)


def _replay(session: Session, rule: Rule, facts: Facts, result: Simulation, show: int) -> None:
    candidates: set[tuple[int, datetime]] = set()
    for moment in _moments(facts, result.start, result.end):
        schedule = evaluate(rule, facts_as_of(facts, moment), moment).schedule
        candidates.update((step, due) for step, due in enumerate(schedule)
                          if result.start <= due <= result.end)
    counted: set[tuple[int, datetime | None]] = set()
    if result.first_run:
        first = evaluate(rule, facts_as_of(facts, result.start), result.start)
        if first.active:
            for step in first.stale:
                result.report(rule, step).stale += 1
            for step in first.too_old:
                result.report(rule, step).too_old += 1
            counted.update((step, first.episode)
                           for step in (*first.stale, *first.too_old, *first.superseded))
            if first.due is not None:
                candidates.add((first.due, result.start))
    for step, due_at in sorted(candidates, key=lambda c: c[1]):
        then = evaluate(rule, facts_as_of(facts, due_at), due_at)
        occurrence = (step, then.episode)
        if not then.active or occurrence in counted:
            continue
        if step in then.too_old:
            counted.add(occurrence)
            result.report(rule, step).too_old += 1
            continue
        if then.due != step:
            continue
        counted.add(occurrence)
        _count(session, rule, facts, result.report(rule, step), due_at, show)


def _count(session: Session, rule: Rule, facts: Facts, report: StepReport, due_at: datetime,
           show: int) -> None:
    """One message the step would send at ``due_at`` (or why it would not)."""
    key = customer_key(facts)
    group = assign(rule, key) if key else "treated"
    if group == "excluded":
        report.excluded += 1
        return
    if group == "holdout":
        report.held_out += 1
        return
    channel, address = _first_reachable(session, rule, facts)
    if channel is None:
        report.unreachable += 1
        return
    report.messages += 1
    report.channels[channel] += 1
    if len(report.recipients) < show:
        report.recipients.append(f"{address} ({channel}, due {due_at.isoformat()})")


def _first_reachable(session: Session, rule: Rule, facts: Facts) -> tuple[str | None, str]:
    customer, cart = facts.customer, facts.cart
    consents: dict[tuple[str, str], bool] = {}
    if customer is not None:
        for c in session.exec(select(Consent).where(Consent.customer_id == customer.id)).all():
            consents[(c.channel, c.purpose)] = c.granted
    for channel in rule.channel_order(customer):
        name = channel.value
        address = {
            "email": (customer.email if customer else None) or (cart.email if cart else None),
            "sms": (customer.phone if customer else None) or (cart.phone if cart else None),
            "push": (customer.push_subscriptions[0].endpoint
                     if customer and customer.push_subscriptions else None),
        }[name]
        if not address:
            continue
        granted = consents.get((name, rule.purpose.value))
        if granted is False or (rule.purpose.value == "marketing" and not granted
                                and name != "push"):
            continue
        return name, address
    return None, ""


def format_simulation(sim: Simulation) -> str:
    first = ", rules first live at the start" if sim.first_run else ""
    lines = [f"simulation {sim.start.isoformat()} .. {sim.end.isoformat()}{first} "
             "(nothing sent)"]
    for (rule, step), r in sorted(sim.steps.items()):
        channels = ", ".join(f"{c}={n}" for c, n in sorted(r.channels.items())) or "-"
        lines.append(f"{rule} step {step + 1} [{r.template}]: {r.messages} messages "
                     f"({channels}); offer {r.offer or '-'}; held out {r.held_out}; "
                     f"outside rollout {r.excluded}; unreachable {r.unreachable}; "
                     f"stale {r.stale}; outside lookback {r.too_old}")
        lines.extend(f"    {who}" for who in r.recipients)
    return "\n".join(lines)


def parse_moment(text: str, zone: str, *, present: datetime | None = None) -> datetime:
    """ISO date or date-time (a bare date means its midnight in the shop's zone, a time
    without offset the shop's zone), or ``now`` / ``+7d`` / ``-30d`` from the present."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).date()
            return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))
    except ValueError:
        try:
            return relative_moment(text, now=present or datetime.now(UTC))
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc


class RulesFor(Protocol):
    def __call__(self, settings: Settings, *, draft: str | None = None,
                 version: int | None = None) -> RuleSet: ...


def add_simulate_command(rules_cli: typer.Typer, get_settings: Callable[[], Settings], *,
                         rules_for: RulesFor) -> None:
    """``rules simulate``; ``rules_for`` loads the rules as the engine would: the published
    set, or it with a stored draft or version in place (the CLI passes the authoring
    layer's loader: detect does not import it)."""
    @rules_cli.command("simulate")
    def simulate_command(
        start: Annotated[str, typer.Option("--from", help="ISO date or date-time, or now/-30d")],
        end: Annotated[str, typer.Option("--to", help="ISO date or date-time, or now/+7d")],
        rule: Annotated[str | None, typer.Option("--rule", help="only this rule")] = None,
        show: Annotated[int, typer.Option(help="recipients listed per step")] = 5,
        first_run: Annotated[bool, typer.Option(
            "--first-run", help="the rules go live at --from: count what is already due "
                                "then, as the first tick would (after a backfill)")] = False,
        draft: Annotated[str | None, typer.Option(
            "--draft", metavar="NAME",
            help="the newest stored version of rule NAME in place of the published one")] = None,
        version: Annotated[int | None, typer.Option(
            "--version", metavar="ID", help="stored version ID in place of its published one")
        ] = None,
    ) -> None:
        """Replay stored history over a window: what each rule would have sent."""
        from notifier.runtime import create_runtime
        from notifier.transit.service import load_model

        settings = get_settings()
        runtime = create_runtime(settings)
        with runtime.sessions() as session:
            transit = load_model(session)  # the model in force now (see simulate())
        zone = settings.shop.timezone
        try:
            rules = rules_for(settings, draft=draft, version=version)
        except NotifierError as exc:
            typer.echo(str(exc), err=True)
            runtime.close()
            raise typer.Exit(1) from exc
        sim = simulate(runtime.sessions, rules, parse_moment(start, zone),
                       parse_moment(end, zone), rule_name=rule, show=show,
                       first_run=first_run, transit=transit)
        typer.echo(format_simulation(sim))
        runtime.close()

    @rules_cli.command("reload")
    def reload_command() -> None:
        """Ask the running engine (notifier serve) to publish what changed in the rule and
        template files since it started; nothing changes when any of it is broken."""
        import httpx

        settings = get_settings()
        keys = [k.get_secret_value() for k in settings.api.keys]
        if not keys:
            typer.secho("api.keys is empty: the reload endpoint needs a key", fg="red", err=True)
            raise typer.Exit(2)
        url = settings.server.public_url.rstrip("/") + "/v1/rules/reload"
        response = httpx.post(url, headers={"Authorization": f"Bearer {keys[0]}"}, timeout=10)
        typer.echo(response.text)
        if response.status_code != 200:
            raise typer.Exit(1)
