"""`relaycast rank FILE.csv`: score every post of a CSV with the Lambda's scorer, best first, with reasons.

Two formats are read, told apart by their header: a twint export (the format of `shared/data/events/`) and
a plain one with `id,text,author,created_at,likes,reposts,replies` (optional `lang`, `is_reply`). Exit 2 for a
missing file, an unknown format or bad experts; rows that cannot be read are skipped and counted on stderr,
the others are still ranked, and the exit status is 2.
"""

from __future__ import annotations

import csv
import os
from bisect import bisect_left, bisect_right
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from relaycast import selection
from relaycast.reasons import describe

TWINT_REQUIRED = ("id", "tweet", "username")
TWINT_OPTIONAL = ("nlikes", "nretweets", "nreplies", "reply_to", "language", "created_at", "date")
PLAIN_REQUIRED = ("id", "text", "author")
PLAIN_OPTIONAL = ("created_at", "likes", "reposts", "replies", "lang", "is_reply")
EXPECTED = (
    f"expected a twint export (columns {', '.join(TWINT_REQUIRED)}; also read: {', '.join(TWINT_OPTIONAL)}) "
    f"or the columns {','.join(PLAIN_REQUIRED + PLAIN_OPTIONAL[:4])} (optional: {', '.join(PLAIN_OPTIONAL[4:])})"
)
TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"", "0", "false", "no", "n", "f"}


class RankError(Exception):
    """The file cannot be ranked at all (missing, unreadable, unknown format)."""


@dataclass(frozen=True)
class Row:
    id: str
    text: str
    author: str
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    is_reply: bool = False
    lang: str = "und"
    created_at: str = ""


def _count(value: str | None, column: str) -> int:
    value = (value or "").strip()
    if not value:
        return 0
    try:
        number = float(value)  # twint writes "3" but some exports write "3.0"
    except ValueError:
        raise ValueError(f"{column} is not a number ({value!r})") from None
    if number < 0 or number != int(number):
        raise ValueError(f"{column} is not a count ({value!r})")
    return int(number)


def _flag(value: str | None, column: str) -> bool:
    value = (value or "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"{column} is not true or false ({value!r})")


def _twint_row(raw: Mapping[str, str | None]) -> Row:
    # twint lists the accounts a reply answers in reply_to; "[]" is an original post (or a thread's next part).
    reply_to = (raw.get("reply_to") or "").strip()
    return Row(
        id=_required(raw, "id"),
        text=_required(raw, "tweet"),
        author=_required(raw, "username").lstrip("@"),
        likes=_count(raw.get("nlikes"), "nlikes"),
        reposts=_count(raw.get("nretweets"), "nretweets"),
        replies=_count(raw.get("nreplies"), "nreplies"),
        is_reply=reply_to not in ("", "[]"),
        lang=(raw.get("language") or "und").strip() or "und",
        created_at=(raw.get("date") or raw.get("created_at") or "").strip(),
    )


def _plain_row(raw: Mapping[str, str | None]) -> Row:
    text = _required(raw, "text")
    return Row(
        id=_required(raw, "id"),
        text=text,
        author=_required(raw, "author").lstrip("@"),
        likes=_count(raw.get("likes"), "likes"),
        reposts=_count(raw.get("reposts"), "reposts"),
        replies=_count(raw.get("replies"), "replies"),
        is_reply=_flag(raw.get("is_reply"), "is_reply"),
        lang=(raw.get("lang") or "und").strip() or "und",
        created_at=(raw.get("created_at") or "").strip(),
    )


def _required(raw: Mapping[str, str | None], column: str) -> str:
    value = (raw.get(column) or "").strip()
    if not value:
        raise ValueError(f"{column} is empty")
    return value


def read_posts(path: str | Path) -> tuple[list[Row], list[str]]:
    """The posts of a CSV file and one line per bad row skipped (its line number and what is wrong)."""
    path = Path(path)
    if not path.is_file():
        raise RankError(f"{path}: no such file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            return parse_posts(stream, str(path))
    except UnicodeDecodeError as error:
        raise RankError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def parse_posts(stream: Iterable[str], name: str = "input") -> tuple[list[Row], list[str]]:
    reader = csv.reader(stream)
    columns = [c.strip() for c in next(reader, [])]
    if all(c in columns for c in TWINT_REQUIRED):
        make = _twint_row
    elif all(c in columns for c in PLAIN_REQUIRED):
        make = _plain_row
    else:
        found = ", ".join(columns) if columns else "no header"
        raise RankError(f"{name}: unknown format ({found}); {EXPECTED}")
    rows: list[Row] = []
    bad: list[str] = []
    seen: set[str] = set()
    try:
        for fields in reader:
            if not fields:
                continue
            try:
                # A short or long row has shifted columns: none of its fields can be trusted.
                if len(fields) != len(columns):
                    raise ValueError(f"{len(fields)} fields where the header has {len(columns)}")
                row = make(dict(zip(columns, fields, strict=True)))
                if row.id in seen:
                    raise ValueError(f"id {row.id} repeated")
            except ValueError as error:
                bad.append(f"line {reader.line_num}: {error}")
                continue
            seen.add(row.id)
            rows.append(row)
    except csv.Error as error:
        bad.append(f"line {reader.line_num}: {error}; the rest of the file was not read")
    return rows, bad


def rank(rows: Sequence[Row], experts: Mapping[str, float] | None = None) -> list[tuple[Row, selection.Scored]]:
    """Each row with its score, best first (ties keep the file's order)."""
    experts = {k.lstrip("@").lower(): v for k, v in (experts or {}).items()}
    scored = [
        (
            row,
            selection.score_post(
                text=row.text,
                author=row.author,
                expert_weight=experts.get(row.author.lower(), 0.0),
                likes=row.likes,
                reposts=row.reposts,
                replies=row.replies,
                is_reply=row.is_reply,
                lang=row.lang,
            ),
        )
        for row in rows
    ]
    return sorted(scored, key=lambda pair: -pair[1].score)


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """The chance that a random positive outscores a random negative (Mann-Whitney U; ties count half)."""
    if not positives or not negatives:
        return float("nan")
    ordered = sorted(negatives)
    wins = sum(bisect_left(ordered, p) + (bisect_right(ordered, p) - bisect_left(ordered, p)) / 2 for p in positives)
    return wins / (len(positives) * len(negatives))


def parse_experts(spec: str) -> dict[str, float]:
    """`@a,@b:2` → {"a": 1.0, "b": 2.0}, with the event file's rules for handles and weights."""
    from pydantic import ValidationError

    from relaycast.config import Expert

    experts: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        handle, _, weight = item.partition(":")
        try:
            expert = Expert(handle=handle, weight=float(weight) if weight else 1.0)
        except ValidationError as error:
            raise RankError(f"--experts {item}: {error.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        except ValueError as error:  # a weight that is not a number
            raise RankError(f"--experts {item}: {error}") from None
        experts[expert.handle] = expert.weight
    return experts


def experts_of_event(path: str) -> dict[str, float]:
    from relaycast.config import EventConfigError, load_event_config

    try:
        config = load_event_config(path)
    except EventConfigError as error:
        raise RankError(str(error)) from None
    return {e.handle: e.weight for e in config.experts}


def write_ranking(ranked: Iterable[tuple[Row, selection.Scored]], out: TextIO, lang: str = "en") -> None:
    """The ranking as CSV, each row's reasons said in `lang`."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "score", "reasons"])
    for row, scored in ranked:
        writer.writerow([row.id, f"{scored.score:.3f}", describe(scored.reasons, lang)])


def main(path: str, *, experts: str | None = None, experts_file: str | None = None, lang: str = "en") -> int:
    try:
        weights = experts_of_event(experts_file) if experts_file else {}
        weights.update(parse_experts(experts or ""))
        rows, bad = read_posts(path)
    except RankError as error:
        print(f"relaycast rank: {error}", file=sys.stderr)
        return 2
    if bad:
        print(f"relaycast rank: skipped {len(bad)} bad row(s) of {path}:", file=sys.stderr)
        for problem in bad[:10]:
            print(f"  {problem}", file=sys.stderr)
        if len(bad) > 10:
            print(f"  … and {len(bad) - 10} more", file=sys.stderr)
    try:
        write_ranking(rank(rows, weights), sys.stdout, lang)
        sys.stdout.flush()
    except BrokenPipeError:  # `relaycast rank f.csv | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 2 if bad else 0  # the good rows are ranked; the status says some were not
