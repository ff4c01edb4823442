"""Why a post scored or was picked as it was: reasons are stored as codes and read in the reader's language.

A code is `name`, or `name:arg` with one argument per parameter of its message (`expert:1.5`, `echoed:3`,
`repeat_author:2:amina_data`); the last argument may itself hold colons. Candidates, picks, proposals and work
items keep codes, so the names here are short and stable; only a page, a mail or a report renders them. Each
name has one English message (French comes from `relaycast.i18n`). A code this version does not know, or whose
arguments do not fit its message, renders as itself: an item written by another version never breaks a page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from relaycast.i18n import translate
from relaycast.networks import NETWORK_NAMES


@dataclass(frozen=True)
class Message:
    """A reason's English message; `plural` (if any) is chosen on its first parameter, a count."""

    text: str
    params: tuple[str, ...] = ()
    plural: str | None = None


MESSAGES: dict[str, Message] = {
    # The insight rules (`relaycast.insight.RULES` holds their weights): signals, then penalties.
    "substance": Message("substantial text"),
    "speaker": Message("attributes a point to a speaker"),
    "quote": Message("quotes a speaker"),
    "citation": Message("cites a paper"),
    "figure": Message("states a number"),
    "method": Message("names a method or tool"),
    "explains": Message("explains what it does"),
    "finding": Message("states a finding or claim"),
    "described_link": Message("links a paper, code or slides with a description"),
    "scholarly_link": Message("links a paper or code"),
    "expert": Message("expert author (weight %(weight)s)", ("weight",)),
    "logistics": Message("logistics"),
    "promotion": Message("promotion"),
    "thanks": Message("thanks or congratulations"),
    "chatter": Message("social chatter"),
    "praise": Message("generic praise"),
    "announce": Message("announces a talk"),
    "pointer": Message("names a talk, not what it said"),
    "first_person": Message("about the author rather than the content"),
    "reply": Message("reply fragment"),
    "repost": Message("repost, not the original"),
    "link_only": Message("link only"),
    "short": Message("too short"),
    "tags": Message("mostly tags"),
    "sensitive": Message("possibly sensitive"),
    "form": Message("reads like the informative posts of other events"),
    "form_low": Message("reads like the uninformative posts of other events"),
    # The round's choice (`relaycast.selection`)
    "echoed": Message("echoed by %(count)s other author", ("count",), plural="echoed by %(count)s other authors"),
    "repeat_author": Message("diversity: %(ordinal)s pick of @%(handle)s lowered", ("ordinal", "handle")),
    "same_session": Message("diversity: same session as another pick lowered"),
    # The event's subject and programme (`relaycast.relevance`)
    "off_topic": Message("says little about the event's subject: lowered"),
    "on_topic": Message("about the event's subject"),
    "session": Message("from the session “%(title)s”", ("title",)),
    "programme_speaker": Message("names a speaker of the programme: %(speaker)s", ("speaker",)),
    "speaker_author": Message("written by a speaker of the programme: %(speaker)s", ("speaker",)),
    # Networks the rounds cannot read (`relaycast.rounds.borrowed`)
    "listed": Message("listed by the organiser"),
    "picked_on": Message("picked on %(network)s", ("network",)),
}


def code(name: str, *args: object) -> str:
    """The stored form of a reason: `code("echoed", 3)` is "echoed:3"."""
    assert name in MESSAGES and len(args) == len(MESSAGES[name].params), name
    return ":".join([name, *map(str, args)])


def ordinal(n: int, lang: str) -> str:
    """2nd, 3rd, 11th, 21st; in French 1er, 2e."""
    if lang == "fr":
        return "1er" if n == 1 else f"{n}e"
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _argument(param: str, value: str, lang: str) -> str:
    if param == "ordinal":
        return ordinal(int(value), lang)
    if param == "count":
        return str(int(value))
    if param == "weight":
        float(value)  # a number, or the code is not one this version wrote
        return value.replace(".", ",") if lang == "fr" else value
    if param == "network":
        return NETWORK_NAMES.get(value, value)
    return value


def render(reason: object, lang: str = "en") -> str:
    """One code as a reader reads it, in `lang` ("en" or "fr"); anything unknown as itself."""
    text = str(reason)
    name, _, rest = text.partition(":")
    message = MESSAGES.get(name)
    if message is None:
        return text
    args = rest.split(":", len(message.params) - 1) if message.params else []
    if len(args) != len(message.params) or (not message.params and rest):
        return text
    try:
        values = {p: _argument(p, a, lang) for p, a in zip(message.params, args, strict=True)}
    except ValueError:
        return text
    english = message.text
    if message.plural is not None:
        count = int(args[0])
        # French keeps the singular for 0 and 1; English for 1 only.
        english = message.plural if (count > 1 if lang == "fr" else count != 1) else message.text
    return translate(lang, english, **values)


def render_all(reasons: Iterable[object] | str | None, lang: str = "en") -> list[str]:
    """Each code rendered; a plain string (an item stored before reasons were codes) is one reason as it is."""
    if reasons is None:
        return []
    if isinstance(reasons, str):
        return [reasons] if reasons else []
    return [render(r, lang) for r in reasons]


def describe(reasons: Iterable[object] | str | None, lang: str = "en") -> str:
    """The reasons in one line, as pages, mails and the rank CSV show them."""
    return ", ".join(render_all(reasons, lang))
