"""The fitted transit model and what it predicts for a parcel on its way.

Where a parcel is now is its :class:`Position`: carrier, service, destination region, the
status of its last scan and when that scan came. The model holds, per segment and scan
status, Kaplan–Meier curves of the business hours from that scan to delivery among the
parcels that had been *silent* (no newer scan) for at least ``g`` hours, for ``g`` on a
grid of ``step`` hours. A parcel silent at a sorting hub for a day is compared with the
parcels that also sat there a day, not with all parcels that passed through.

Segments go from narrow to wide: (carrier, service, region), (carrier, any service,
region), (carrier, any, any). A segment with fewer than ``min_observations`` stays in a
status has no curve of its own, so a small segment falls back to the carrier's curve; a
silence seen fewer than ``min_silent_observations`` times falls back to a shorter one.

    model.late_probability(position, promise, now)   # P(delivered after the promise)
    model.crossing(position, promise, threshold)      # when that first reaches threshold
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.transit.curves import Curve
from notifier.transit.hours import BusinessClock

ANY = "*"
FORMAT = 1


def normalise(value: str | None) -> str:
    """Carrier and service names as segment keys: trimmed, lowercase, ``-`` when unknown."""
    text = " ".join((value or "").split()).lower()
    return text or "-"


def region_of(country: str | None, postcode: str | None, *, home: str, digits: int) -> str:
    """The destination region: ``PL-38`` (home country, first postcode digits) or ``DE``.

    Abroad the country alone is the region; at home without a usable postcode, too.
    """
    code = (country or "").strip().upper() or home.upper()
    if code != home.upper():
        return code
    numbers = "".join(ch for ch in (postcode or "") if ch.isdigit())
    return f"{code}-{numbers[:digits]}" if len(numbers) >= digits else code


@dataclass(frozen=True)
class Position:
    """Where a parcel is: its segment, its last scan's status and when that scan came."""

    carrier: str
    service: str
    region: str
    status: str
    since: datetime

    def segments(self) -> Iterator[tuple[str, str, str]]:
        """The segments to ask, narrowest first."""
        yield self.carrier, self.service, self.region
        if self.service != ANY:
            yield self.carrier, ANY, self.region
        if self.region != ANY:
            yield self.carrier, ANY, ANY


def curve_key(carrier: str, service: str, region: str, status: str, silent: float) -> str:
    return f"{carrier}|{service}|{region}|{status}|{silent:g}"


@dataclass(frozen=True)
class FitSettings:
    """How a model is fitted; stored with it so every prediction uses the same settings."""

    country: str = "PL"
    timezone: str = "Europe/Warsaw"
    region_digits: int = 2
    step_hours: float = 4.0
    max_silence_hours: float = 120.0
    min_observations: int = 30
    min_silent_observations: int = 5

    @property
    def clock(self) -> BusinessClock:
        return BusinessClock(self.country, self.timezone)

    def grid(self) -> list[float]:
        count = int(self.max_silence_hours // self.step_hours) + 1
        return [i * self.step_hours for i in range(count)]

    def bucket(self, silent: float) -> float:
        top = self.grid()[-1]
        return min(max(silent, 0.0) // self.step_hours * self.step_hours, top)


@dataclass(frozen=True)
class TransitModel:
    """A fitted model: its curves by :func:`curve_key`, and the settings it was fitted with."""

    settings: FitSettings
    curves: Mapping[str, Curve]
    fitted_at: datetime
    trained_from: datetime
    trained_to: datetime
    parcels: int
    version: int = 0
    carriers: tuple[str, ...] = field(default=())

    @property
    def clock(self) -> BusinessClock:
        return self.settings.clock

    def region(self, country: str | None, postcode: str | None) -> str:
        s = self.settings
        return region_of(country, postcode, home=s.country, digits=s.region_digits)

    def curve(self, position: Position, silent: float) -> tuple[str, Curve] | None:
        """The curve for ``position`` after ``silent`` hours without a scan.

        The segment is the narrowest one with a curve of its own (``min_observations``
        stays); within it, the longest silence up to ``silent`` that has one. So a parcel
        is compared with its own segment's parcels, never with another region's slow tail.
        """
        bucket = self.settings.bucket(silent)
        for carrier, service, region in position.segments():
            if curve_key(carrier, service, region, position.status, 0) not in self.curves:
                continue
            for g in reversed([g for g in self.settings.grid() if g <= bucket]):
                key = curve_key(carrier, service, region, position.status, g)
                if (found := self.curves.get(key)) is not None:
                    return key, found
        return None

    def late_probability(self, position: Position, promise: datetime,
                         now: datetime) -> float | None:
        """P(delivered after ``promise`` | silent since ``position.since`` until ``now``).

        None when the model knows nothing of this carrier and status, or when the parcel
        has been silent longer than every parcel of its kind (the history cannot say).
        """
        clock = self.clock
        silent = max(clock.hours(position.since, now), 0.0)
        found = self.curve(position, silent)
        if found is None:
            return None
        curve = found[1]
        left = curve.survival_at(silent)
        if left <= 0:
            return None
        return min(curve.survival_at(clock.hours(position.since, promise)) / left, 1.0)

    def crossing(self, position: Position, promise: datetime,
                 threshold: float) -> tuple[datetime, str] | None:
        """When, if no new scan comes, the late probability first reaches ``threshold``.

        Returns that moment (it may lie in the past) with the curve that decided, or None
        when it does not happen before the promise or the model cannot tell.
        """
        clock = self.clock
        due = clock.hours(position.since, promise)
        grid = self.settings.grid()
        for i, g in enumerate(grid):
            if g >= due:
                return None
            found = self.curve(position, g)
            if found is None:
                return None
            key, curve = found
            # p(d) = S(due) / S(d) grows with d; it reaches the threshold where S(d)
            # falls to S(due) / threshold. S(due) = 0: every such parcel came in time.
            late = curve.survival_at(due)
            at = curve.first_below(late / threshold, after=g) if late > 0 else None
            end = grid[i + 1] if i + 1 < len(grid) else due
            if at is not None and at < min(end, due):
                return clock.add(position.since, at), key
        return None

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        return {
            "format": FORMAT,
            "settings": {"country": s.country, "timezone": s.timezone,
                         "region_digits": s.region_digits, "step_hours": s.step_hours,
                         "max_silence_hours": s.max_silence_hours,
                         "min_observations": s.min_observations,
                         "min_silent_observations": s.min_silent_observations},
            "fitted_at": self.fitted_at.isoformat(),
            "trained_from": self.trained_from.isoformat(),
            "trained_to": self.trained_to.isoformat(),
            "parcels": self.parcels,
            "carriers": list(self.carriers),
            "curves": {k: c.to_json() for k, c in sorted(self.curves.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, version: int = 0) -> TransitModel:
        if data.get("format") != FORMAT:
            raise ValueError(f"transit model format {data.get('format')!r}, expected {FORMAT}")
        return cls(
            settings=FitSettings(**data["settings"]),
            curves={k: Curve.from_json(c) for k, c in data["curves"].items()},
            fitted_at=datetime.fromisoformat(data["fitted_at"]),
            trained_from=datetime.fromisoformat(data["trained_from"]),
            trained_to=datetime.fromisoformat(data["trained_to"]),
            parcels=int(data["parcels"]),
            carriers=tuple(data.get("carriers", ())),
            version=version,
        )
