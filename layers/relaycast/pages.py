"""HTML and text rendering (jinja2, autoescaped) for the hosted page, the dashboard and e-mails."""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

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
    return environment


def render(template: str, lang: str = "en", **context: Any) -> str:
    return _environment(lang).get_template(template).render(lang=lang, **context)
