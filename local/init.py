"""`relaycast init`: the event file, question by question. Every question has a flag and most a default; `--yes`
takes the defaults for what no flag answered. Each answer is checked as the file will be (`relaycast check`'s
own validation): a wrong one is asked again with the reason, or, without a person to ask, named with its flag."""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from relaycast.config import KNOWN_NETWORKS, LANGUAGES, EventConfigError, parse_event_config
from relaycast.policy import modes_allowed, policy


PLACEHOLDER_SENDER = "relaycast@example.org"  # the default: no mail goes out until a verified address replaces it


class Refused(ValueError):
    """An answer that cannot go in the file; the message says why."""


def _slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", plain)).strip("-")[:42].strip("-")


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[,\s]+", text.strip()) if w]


def _networks(text: str) -> list[str]:
    networks = [n.lower() for n in _words(text)]
    unknown = [n for n in networks if n not in KNOWN_NETWORKS]
    if unknown or not networks:
        raise Refused(f"use some of: {', '.join(KNOWN_NETWORKS)}")
    return list(dict.fromkeys(networks))


def _experts(text: str) -> list[dict[str, Any]]:
    """`@amina_data:2, @jlefevre`: handles with an optional weight."""
    experts = []
    for word in _words(text):
        handle, _, weight = word.partition(":")
        try:
            experts.append({"handle": handle, **({"weight": float(weight)} if weight else {})})
        except ValueError:
            raise Refused(f"'{word}': a weight is a number, e.g. @amina_data:2") from None
    return experts


def _cap(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 50:
        raise Refused("a whole number of posts, from 1 to 50")
    return int(text)


def _zone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise Refused(f"'{text.strip()}' is not an IANA time zone: e.g. Europe/Paris or America/New_York") from None
    return text.strip()


def _local_time(text: str) -> str:
    from datetime import datetime

    try:
        datetime.fromisoformat(text.strip())
    except ValueError:
        raise Refused(f"'{text.strip()}' is not a date and time: write it as YYYY-MM-DDTHH:MM, e.g. 2027-03-10T09:00") from None
    return text.strip()


def _address(text: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text.strip()):
        raise Refused(f"'{text.strip()}' is not an e-mail address")
    return text.strip()


def _languages(text: str) -> list[str]:
    languages = [w.lower() for w in _words(text)]
    if not languages or any(lang not in LANGUAGES for lang in languages):
        raise Refused(f"use some of: {', '.join(LANGUAGES)}")
    return languages


def _mode(network: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        mode = text.strip().lower()
        if mode not in modes_allowed(network):
            raise Refused(f"{mode or 'nothing'} is not allowed on {network} — {policy(network).why}")
        return mode

    return parse


@dataclass(frozen=True)
class Question:
    field: str  # the event file's field (and the flag's name, with dashes)
    ask: str
    parse: Callable[[str], Any] = str.strip
    default: Callable[[dict[str, Any]], str | None] = lambda answers: None
    when: Callable[[dict[str, Any]], bool] = lambda answers: True
    aliases: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


def _mode_questions() -> list[Question]:
    return [
        Question(f"mode_{network}", f"Mode on {network} ({', '.join(modes_allowed(network))})",
                 parse=_mode(network),
                 default=lambda answers, network=network: modes_allowed(network)[0],
                 when=lambda answers, network=network: network in answers.get("networks", []))
        for network in KNOWN_NETWORKS
    ]


QUESTIONS = [
    Question("name", "Event name"),
    Question("slug", "Short name for the stack (lowercase letters, digits, dashes)",
             default=lambda answers: _slug(answers.get("name", "")) or None),
    Question("hashtags", "Hashtags (comma-separated)", parse=_words, aliases=("--hashtag",)),
    Question("timezone", "Time zone of the event (IANA name)", parse=_zone, default=lambda answers: "UTC"),
    Question("start", "Start, local time (YYYY-MM-DDTHH:MM)", parse=_local_time),
    Question("end", "End, local time (YYYY-MM-DDTHH:MM)", parse=_local_time),
    Question("networks", f"Networks ({', '.join(KNOWN_NETWORKS)})", parse=_networks, default=lambda answers: "x"),
    *_mode_questions(),
    Question("mastodon_source", "Mastodon instance whose #tag timeline relaycast reads",
             default=lambda answers: "mastodon.social", when=lambda answers: "mastodon" in answers.get("networks", [])),
    Question("cap_per_relay", "Most posts in a relay's name over the event", parse=_cap, default=lambda answers: "8"),
    Question("experts", "Experts on site (@handle or @handle:weight, comma-separated; empty for none)",
             parse=_experts, default=lambda answers: ""),
    Question("notice_sender", "Sender address of the relays' mails (verified in SES)", parse=_address,
             default=lambda answers: PLACEHOLDER_SENDER),
    Question("languages", f"Languages of the hosted page ({', '.join(LANGUAGES)})", parse=_languages,
             default=lambda answers: "en"),
]
BY_FIELD = {q.field: q for q in QUESTIONS}


def event_data(answers: dict[str, Any]) -> dict[str, Any]:
    """The event file's content from the answers (modes only where they differ from the network's default)."""
    data = {q.field: answers[q.field] for q in QUESTIONS if q.field in answers and not q.field.startswith("mode_")}
    modes = {n: answers[f"mode_{n}"] for n in answers.get("networks", [])
             if f"mode_{n}" in answers and answers[f"mode_{n}"] != modes_allowed(n)[0]}
    if modes:
        data["modes"] = modes
    if not data.get("experts"):
        data.pop("experts", None)
    return data


def _question_of(field: str) -> Question | None:
    """The question whose answer a problem of the file names (`modes.x` → the mode on x, `experts.0.handle` → experts)."""
    if field.startswith("modes."):
        return BY_FIELD.get(f"mode_{field.split('.')[1]}")
    return BY_FIELD.get(field.split(".")[0])


class Asker:
    """Asks the questions on `stdin`/`stdout`; `interactive` False: nobody to ask (--yes, or no terminal)."""

    def __init__(self, given: dict[str, str], *, interactive: bool, stdin: TextIO, stdout: TextIO):
        self.given, self.interactive, self.stdin, self.stdout = given, interactive, stdin, stdout
        self.answers: dict[str, Any] = {}
        self.problems: list[str] = []

    def ask(self, question: Question, reason: str | None = None) -> None:
        text = None if reason else self.given.get(question.field)
        while True:
            if text is None:
                default = question.default(self.answers)
                if not self.interactive:
                    if default is None:
                        self.problems.append(f"{question.flag}: {reason or 'needed (no default)'}")
                        return
                    text = default
                else:
                    if reason:
                        print(f"  {reason}", file=self.stdout)
                    print(f"{question.ask}{f' [{default}]' if default else ''}: ", end="", file=self.stdout, flush=True)
                    line = self.stdin.readline()
                    if not line:  # the input ended: nobody left to ask
                        self.problems.append(f"{question.flag}: {reason or 'no answer'}")
                        return
                    text = line.strip() or (default or "")
            try:
                value = question.parse(text)
                if value in ("", [], None) and question.default(self.answers) is None:
                    raise Refused("an answer is needed")
            except Refused as refused:
                reason, text = str(refused), None
                if not self.interactive:
                    self.problems.append(f"{question.flag}: {reason}")
                    return
                continue
            self.answers[question.field] = value
            return


def init(given: dict[str, str], *, out: Path | None, yes: bool, force: bool, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Ask, check, write the event file; 0 when written, 2 when an answer is missing or wrong (nothing written)."""
    import yaml

    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    asker = Asker(given, interactive=not yes, stdin=stdin, stdout=stdout)
    for question in QUESTIONS:
        if question.when(asker.answers):
            asker.ask(question)
    while not asker.problems:
        try:
            config = parse_event_config(event_data(asker.answers), "the answers")
            break
        except EventConfigError as error:
            again = [(p, _question_of(p.field)) for p in error.problems]
            if not asker.interactive or any(q is None for _, q in again):
                asker.problems += [f"{q.flag if q else p.field}: {p.problem} — {p.fix}" for p, q in again]
                break
            for problem, question in again:
                asker.ask(question, reason=f"{problem.problem} — {problem.fix}")  # type: ignore[arg-type]
    if asker.problems:
        print("relaycast init: no event file written:", *(f"  {p}" for p in asker.problems), sep="\n", file=stderr)
        return 2
    path = out or Path("events") / f"{config.slug}.yaml"
    if path.exists() and not force:
        print(f"relaycast init: {path} exists; choose another --out or pass --force", file=stderr)
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(event_data(asker.answers), sort_keys=False, allow_unicode=True)
    path.write_text(f"# Written by relaycast init; check it with: relaycast check {path}\n{text}", encoding="utf-8")
    print(f"wrote {path}: {config.name}, {config.start_utc:%Y-%m-%d %H:%M} → {config.end_utc:%Y-%m-%d %H:%M} UTC, "
          f"networks {', '.join(config.networks)}", file=stdout)
    if config.notice_sender == PLACEHOLDER_SENDER:
        print(f"note: notice_sender is {PLACEHOLDER_SENDER}, a placeholder: put an address you verify in SES there "
              "before deploying", file=stdout)
    return 0


def add_arguments(parser: Any) -> None:
    for question in QUESTIONS:
        parser.add_argument(question.flag, *question.aliases, dest=question.field, metavar="VALUE", help=question.ask)
    parser.add_argument("--out", type=Path, help="where to write the event file (default: events/<slug>.yaml)")
    parser.add_argument("--yes", action="store_true", help="take the defaults for every question no flag answered")
    parser.add_argument("--force", action="store_true", help="replace the file --out names if it exists")
