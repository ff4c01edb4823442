"""HTML and text rendering (jinja2, autoescaped) for the hosted page, the dashboard and e-mails."""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from relaycast.i18n import CATALOGUES, translate


@lru_cache(maxsize=4)
def _environment(lang: str) -> Environment:
    """One environment per language: `_()` in a template is that language's catalogue."""
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
    environment.filters["https_url"] = https_url
    environment.filters["https_link"] = https_link
    return environment


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
