"""Recent search's query language (the subset a hashtag poller needs), compiled to a predicate on posts, and
the opaque paging tokens of search and ``retweeted_by``."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

from relaycast_local.feed import Post
from relaycast_local.sandbox_x.records import ID

_QUERY_TOKEN = re.compile(r'\s*(-?\(|\)|-?"[^"]*"|[^\s()"]+)')
_Matcher = Callable[[Post], bool]


class QueryError(ValueError):
    pass


def compile_query(query: str) -> _Matcher:
    """Compile a recent-search query. Supported: `#tag`, `@user`, `from:`, `lang:`, `is:retweet|reply|quote`,
    `has:links|hashtags|mentions`, keywords, "exact phrases", `-` negation, implicit AND, `OR`, parentheses
    (AND binds tighter than OR, as on X)."""
    if query.count('"') % 2:
        raise QueryError("unbalanced quotes")
    tokens = _QUERY_TOKEN.findall(query)
    if "".join(tokens).replace(" ", "") != re.sub(r"\s+", "", query):
        raise QueryError("unexpected characters")
    pos = 0
    positives = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def parse_or() -> _Matcher:
        parts = [parse_and()]
        while peek() == "OR":
            take()
            parts.append(parse_and())
        if len(parts) == 1:
            return parts[0]
        return lambda p, parts=tuple(parts): any(m(p) for m in parts)

    def parse_and() -> _Matcher:
        parts = []
        while peek() not in (None, ")", "OR"):
            parts.append(parse_unary())
        if not parts:
            raise QueryError(f"no viable alternative at input '{peek() or '<EOF>'}' (at position {pos + 1})")
        if len(parts) == 1:
            return parts[0]
        return lambda p, parts=tuple(parts): all(m(p) for m in parts)

    def parse_unary() -> _Matcher:
        nonlocal positives
        tok = take()
        if tok in ("(", "-("):
            inner = parse_or()
            if peek() != ")":
                raise QueryError("missing ')'")
            take()
            return (lambda p, m=inner: not m(p)) if tok == "-(" else inner
        negated = tok.startswith("-") and len(tok) > 1
        atom = _atom(tok[1:] if negated else tok)
        if not negated:
            positives += 1
        return (lambda p, m=atom: not m(p)) if negated else atom

    matcher = parse_or()
    if pos != len(tokens):
        raise QueryError(f"extraneous input '{tokens[pos]}' (at position {pos + 1})")
    if positives == 0:
        raise QueryError("a query needs at least one term that is not negated")
    return matcher


def _word(text: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(text.casefold()) + r"(?!\w)")


def _atom(tok: str) -> _Matcher:
    if tok.startswith('"'):
        phrase = tok.strip('"').casefold()
        return lambda p: phrase in p.text.casefold()
    if tok.startswith("#"):
        tag = tok[1:].casefold()
        if not tag:
            raise QueryError("empty hashtag")
        return lambda p: any(t.casefold() == tag for t in p.hashtags)
    if tok.startswith("@"):
        pattern = _word("@" + tok[1:])
        return lambda p: bool(pattern.search(p.text.casefold()))
    if ":" in tok and not tok.startswith(("http://", "https://")):
        op, _, value = tok.partition(":")
        value_cf = value.casefold()
        if op == "from":
            return lambda p: p.username.casefold() == value_cf.lstrip("@")
        if op == "lang":
            return lambda p: p.lang.casefold() == value_cf
        if op == "is":
            checks = {
                "retweet": lambda p: p.is_retweet,
                "reply": lambda p: p.is_reply,
                "quote": lambda p: False,
            }
            if value_cf not in checks:
                raise QueryError(f"Reference to invalid operator 'is:{value}'")
            return checks[value_cf]
        if op == "has":
            checks = {
                "links": lambda p: "http://" in p.text or "https://" in p.text,
                "hashtags": lambda p: bool(p.hashtags),
                "mentions": lambda p: bool(re.search(r"(?<!\w)@\w", p.text)),
            }
            if value_cf not in checks:
                raise QueryError(f"Reference to invalid operator 'has:{value}'")
            return checks[value_cf]
        raise QueryError(f"Reference to invalid operator '{op}'")
    pattern = _word(tok)
    return lambda p: bool(pattern.search(p.text.casefold()))


def encode_cursor(post_id: str) -> str:
    return base64.b32hexencode(post_id.encode()).decode().rstrip("=").lower()


def decode_cursor(token: str) -> str:
    padded = token.upper() + "=" * (-len(token) % 8)
    value = base64.b32hexdecode(padded).decode()
    if not ID.match(value):
        raise ValueError(token)
    return value
