"""HTML and text rendering (jinja2, autoescaped) for the hosted page, the dashboard and e-mails: the pages'
common context, the language switches, the relay's own language, instants as the relay reads them (the
`local_time` filters) and a pick's reasons (the `reasons` filter)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from relaycast.i18n import CATALOGUES, translate
from relaycast.networks import NETWORK_NAMES
from relaycast.reasons import describe

if TYPE_CHECKING:
    from jinja2 import Environment
    from jinja2.runtime import Context

    from relaycast.config import EventConfig

LANGUAGE_LABELS = {"en": "English", "fr": "Français"}
# How a relay reads an instant: the event's time zone, to the minute (NAMED adds the zone's abbreviation).
DAY = "%d/%m/%Y"
MINUTE = f"{DAY} %H:%M"
NAMED = f"{MINUTE} %Z"


def local_time(config: EventConfig, instant: datetime, layout: str = MINUTE) -> str:
    """An instant in the event's time zone (the stored config keeps offsets only; the zone names it)."""
    return instant.astimezone(ZoneInfo(config.timezone)).strftime(layout)


def epoch_time(config: EventConfig, epoch: int | str, layout: str = MINUTE) -> str:
    return local_time(config, datetime.fromtimestamp(int(epoch), UTC), layout)


def relay_language(grants: Iterable[dict[str, Any]], receipts: Iterable[dict[str, Any]] = ()) -> str | None:
    """The language the relay connected in: their grant's, else (their access has ended) their receipt's."""
    return next((g.get("lang") for g in grants), None) or next((r.get("lang") for r in receipts), None)


def _iso_filter(context: Context, iso: str | None) -> str:
    """A stored ISO instant (a receipt's, a ledger's); an absent or unreadable one shows as nothing."""
    try:
        return local_time(context["config"], datetime.fromisoformat(iso)) if iso else ""
    except (TypeError, ValueError):
        return ""


def _epoch_filter(context: Context, epoch: int | str) -> str:
    return epoch_time(context["config"], epoch)


def _day_filter(context: Context, epoch: int | str) -> str:
    return epoch_time(context["config"], epoch, DAY)


@lru_cache(maxsize=4)
def _environment(lang: str) -> Environment:
    """One environment per language: `_()` in a template is that language's catalogue. jinja2 loads here, at the
    first page or mail: a function's path that renders nothing never imports it."""
    from jinja2 import Environment, PackageLoader, pass_context, select_autoescape

    environment = Environment(
        loader=PackageLoader("relaycast", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=partial(translate, lang), ngettext=lambda s, p, n, **kw: translate(lang, s if n == 1 else p, **kw), newstyle=True
    )
    # Stored text (a receipt's reason, an error from a network) may contain "%": looked up, never formatted.
    environment.filters["tr"] = lambda text: CATALOGUES.get(lang, {}).get(str(text), text)
    # A pick's stored reason codes, said in the page's language.
    environment.filters["reasons"] = lambda codes: describe(codes, lang) or "—"
    environment.filters["https_url"] = https_url
    environment.filters["https_link"] = https_link
    environment.filters["local_time"] = pass_context(_iso_filter)
    environment.filters["epoch_time"] = pass_context(_epoch_filter)
    environment.filters["epoch_day"] = pass_context(_day_filter)
    environment.filters["count"] = partial(count, lang)
    return environment


def count(lang: str, value: Any) -> str:
    """A whole number grouped by thousands as the language writes it: 12,345 or 12\u202f345."""
    grouped = f"{int(value):,}"
    return grouped.replace(",", "\u202f") if lang == "fr" else grouped


# Characters no URL a page links to may hold (a browser would cut or re-read the address around them).
_UNSAFE_IN_URL = frozenset('\x00\t\n\r "<>\\`')


def https_url(value: Any) -> str | None:
    """A URL that came with a post (its address, its author's, a link it carries): kept only when it is an https
    address with a host; anything else (`javascript:`, `data:`, `http:`, relative) is not a URL to link to."""
    text = str(value or "").strip()
    if not text or any(c in _UNSAFE_IN_URL for c in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme.lower() == "https" and parts.hostname else None


def https_link(value: Any, label: Any = None) -> Markup:
    """`<a href>` to a post's URL when it is https; otherwise the label (or the URL) as plain text, never a link."""
    url = https_url(value)
    text = escape(str(value or "") if label is None else label)
    return Markup(f'<a href="{escape(url)}">{text}</a>') if url else Markup(text)


def render(template: str, lang: str = "en", **context: Any) -> str:
    return _environment(lang).get_template(template).render(lang=lang, **context)


def page(template: str, lang: str, *, config: EventConfig, base: str, query: dict[str, str], here: str = "/", **context: Any) -> str:
    """A page of the hosted app at `here`: the event's dates, and a switch to each of its languages that keeps
    the page's own query (`base` is the hosted page's public URL)."""
    kept = {k: v for k, v in query.items() if k != "lang"}
    switches = [
        (code, LANGUAGE_LABELS[code], f"{base}{here}?{urlencode({**kept, 'lang': code})}") for code in config.languages
    ] if len(config.languages) > 1 else []
    return render(
        template,
        lang,
        config=config,
        base=base,
        switches=switches,
        network_names=NETWORK_NAMES,
        starts=local_time(config, config.start),
        ends=local_time(config, config.end),
        access_ends=local_time(config, config.access_ends, NAMED),
        **context,
    )
