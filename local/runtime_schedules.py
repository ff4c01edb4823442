"""The simulated clock and the stack's schedules (moto has no timer).

`SimClock` is a settable instant; `LocalCloud(clock=sim)` installs it as relaycast's one clock
(`relaycast.clock.use(sim.now)`), so handlers running in-process read the simulated time.

A `Schedule` is an EventBridge Scheduler schedule (`AWS::Scheduler::Schedule`, which moto's CloudFormation skips)
or an EventBridge rule's `ScheduleExpression` (moto keeps the rule, never fires it), read from the deployed
template with its targets resolved. `fire_times(lo, hi)` lists the instants it is due in a window:

- `rate(n unit)`: every n units from StartDate (the first invocation is at StartDate), or, without StartDate,
  from the instant the runtime starts firing schedules ("immediately", as Scheduler does);
- `cron(min hour day-of-month month day-of-week year)` in ScheduleExpressionTimezone (`*`, `?`, lists, ranges,
  steps, month and day names; `L`, `W` and `#` are not supported);
- `at(yyyy-mm-ddThh:mm:ss)` in ScheduleExpressionTimezone, once (StartDate/EndDate ignored, as Scheduler does);
- recurring schedules fire only at StartDate <= t < EndDate; a DISABLED schedule never fires.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


class SimClock:
    """A simulated instant that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimClock needs a timezone-aware start instant")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, to: datetime | None = None, by: timedelta | None = None) -> datetime:
        """Move to an instant, or by a duration; never backwards. Returns the new instant."""
        if (to is None) == (by is None):
            raise ValueError("advance(to=...) or advance(by=...), exactly one")
        with self._lock:
            target = self._now + by if by is not None else to.astimezone(UTC)  # type: ignore[union-attr]
            if target < self._now:
                raise ValueError(f"the clock does not go back ({target} < {self._now})")
            self._now = target
            return target

    def install(self) -> None:
        from relaycast import clock

        clock.use(self.now)

    @staticmethod
    def uninstall() -> None:
        from relaycast import clock

        clock.use(None)


@dataclass(frozen=True)
class Target:
    arn: str
    input: str | None = None
    input_path: str | None = None
    role_arn: str | None = None
    id: str | None = None


@dataclass
class Schedule:
    kind: str  # "scheduler" | "events-rule"
    logical_id: str
    name: str
    expression: str
    targets: list[Target]
    timezone: str = "UTC"
    start: datetime | None = None
    end: datetime | None = None
    enabled: bool = True
    group: str = "default"
    fired: list[datetime] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tz = ZoneInfo(self.timezone or "UTC")
        self._rate: timedelta | None = None
        self._at: datetime | None = None
        self._cron: _Cron | None = None
        text = self.expression.strip()
        if m := re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", text):
            unit = m.group(2).rstrip("s")
            self._rate = timedelta(**{unit + "s": int(m.group(1))})
        elif m := re.fullmatch(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)", text):
            self._at = datetime.fromisoformat(m.group(1)).replace(tzinfo=self._tz).astimezone(UTC)
        elif m := re.fullmatch(r"cron\((.+)\)", text):
            self._cron = _Cron(m.group(1))
        else:
            raise ValueError(f"schedule {self.logical_id}: unsupported expression {self.expression!r}")

    @property
    def one_shot(self) -> bool:
        return self._at is not None

    def fire_times(self, lo: datetime, hi: datetime, lo_inclusive: bool, anchor: datetime) -> list[datetime]:
        """Instants in (lo, hi] (or [lo, hi]) at which this schedule is due; `anchor` stands for its creation."""
        if not self.enabled:
            return []

        def inside(t: datetime) -> bool:
            return (lo <= t if lo_inclusive else lo < t) and t <= hi

        if self._at is not None:
            return [self._at] if inside(self._at) and self._at not in self.fired else []
        times: list[datetime] = []
        if self._rate is not None:
            base = self.start or anchor
            first = lo if lo_inclusive else lo + timedelta(microseconds=1)
            k = max(0, -(-(first - base) // self._rate))  # ceil
            t = base + k * self._rate
            while t <= hi:
                times.append(t)
                t += self._rate
        elif self._cron is not None:
            t = (lo if lo_inclusive else lo + timedelta(seconds=1)).replace(second=0, microsecond=0)
            if t < lo or (not lo_inclusive and t <= lo):
                t += timedelta(minutes=1)
            while t <= hi:
                if self._cron.matches(t.astimezone(self._tz)):
                    times.append(t)
                t += timedelta(minutes=1)
        return [
            t
            for t in times
            if inside(t) and (self.start is None or t >= self.start) and (self.end is None or t < self.end)
        ]


_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
_DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split(), 1)}


class _Cron:
    """AWS cron: minutes hours day-of-month month day-of-week year (day-of-week 1-7 = SUN-SAT)."""

    def __init__(self, text: str) -> None:
        fields = text.split()
        if len(fields) != 6:
            raise ValueError(f"cron({text}): six fields expected")
        bounds = [(0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (1, 7, _DAYS), (1970, 2199, {})]
        self.sets = [self._parse(f, lo, hi, names) for f, (lo, hi, names) in zip(fields, bounds)]

    @staticmethod
    def _parse(text: str, lo: int, hi: int, names: dict[str, int]) -> set[int] | None:
        if text in ("*", "?"):
            return None
        if any(c in text for c in "LW#"):
            raise ValueError(f"cron field {text!r}: L, W and # are not supported locally")
        values: set[int] = set()
        for part in text.split(","):
            step = 1
            if "/" in part:
                part, step_text = part.split("/")
                step = int(step_text)
            if part in ("*", ""):
                start, stop = lo, hi
            elif "-" in part:
                a, b = part.split("-")
                start, stop = names.get(a.upper()) or int(a), names.get(b.upper()) or int(b)
            else:
                start = names.get(part.upper()) or int(part)
                stop = hi if step != 1 else start
            values.update(range(start, stop + 1, step))
        return values

    def matches(self, t: datetime) -> bool:
        minute, hour, dom, month, dow, year = self.sets
        weekday = (t.isoweekday() % 7) + 1  # SUN=1 ... SAT=7
        checks = [(minute, t.minute), (hour, t.hour), (month, t.month), (year, t.year)]
        if not all(s is None or v in s for s, v in checks):
            return False
        day_ok = dom is None or t.day in dom
        week_ok = dow is None or weekday in dow
        return day_ok and week_ok


def parse_instant(value: Any) -> datetime | None:
    if not value:
        return None
    instant = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


@dataclass
class Firing:
    """What happened when a schedule fired."""

    at: datetime
    schedule: str
    target_arn: str
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED | WAITING_FOR_CALLBACK | UNSUPPORTED
    input: str | None = None
    output: Any = None
    error: str | None = None
    cause: str | None = None
    execution_arn: str | None = None


def scheduled_event(rule_arn: str, account: str, region: str, at: datetime) -> dict[str, Any]:
    """The event an EventBridge rule's schedule sends when the target has no Input."""
    import uuid

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def json_path(document: Any, path: str) -> Any:
    """The `$.a.b` subset of JSONPath used by InputPath."""
    if path in ("$", ""):
        return document
    for part in path.removeprefix("$.").split("."):
        document = document[part]
    return document
