"""Topic relevance: is a post about the event, or does it only carry its hashtag? And which session is it about?

The event's subject is learnt from the round's own pool and, when the organiser gives one, the programme. A
word belongs to the subject when several people use it: its support is the number of voters who wrote it, where
each author votes once per word and a near-duplicate group (a slide live-tweeted by five, a bot ring's one text)
votes once, through one of its authors; a programme session votes for the words of its title, abstract and
speakers. A post's relevance is the share of its words' weight (IDF: rare words say more than "the") that other
voters support — its own author's and its group's votes left out, so nobody makes themselves the subject.
Spam riding a trending tag, a job ad or unrelated chatter uses words nobody else at the event uses; a French
post on the subject shares its words with the other French posts, and the names of tools and speakers with all.

Pure Python over sparse dicts: learning and judging are linear in the pool (a word's support is a dict entry,
each author's words a set, sessions are found through an index of their words and a sorted list of times).
"""

from __future__ import annotations

import math
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from relaycast.insight import HASHTAG, MENTION, clean, content_words, features

if TYPE_CHECKING:
    from relaycast.config import Session, Speaker

__all__ = ["Judgement", "Topic", "terms"]

FULL_SUPPORT = 2.0  # voters other than the post's author for a word to count fully as the event's
PROGRAMME_VOTES = FULL_SUPPORT  # the organiser's word: a session's words are the event's on their own
OFF_TOPIC = 0.1  # below this share of supported words a post is not about the event…
ON_TOPIC = 0.4  # …and from this share it plainly is (said in its reasons)
# Voters a pool needs before it can say what the event is about: below LOWER_FROM, relevance stays neutral (an
# early round must still pick); from LOWER_FROM, an off-topic post is lowered; from EXCLUDE_FROM, or with a
# programme, it is never picked. Measured on the ISMB feeds: from 30 voters no insight-bearing post was off
# topic; in the sparse 2019 feed's pools of about 20 a few were.
LOWER_FROM, EXCLUDE_FROM = 6, 30
SESSION_SIMILAR = 0.2  # cosine of a post to a session's title, abstract and speakers that says it is about it
AFTER_SESSION = timedelta(minutes=30)  # live posts keep coming while people walk out


# Words that say a post reports a talk, whatever its subject's words (a dense post on a niche talk shares few).
TALK_WORDS = frozenset("""
talk keynote session track panel poster workshop tutorial presentation presenting presented presents speaker
slide plenary symposium conference lecture intervention atelier expose table ronde
""".split())
# Function words of the two languages relaycast speaks: they are on every post, on the subject or not, so they
# would lend any post the support of the whole pool.
FUNCTION_WORDS = frozenset("""
the and for are but not you all any can had her was one our out has have his how its may new now see two way who
did get got let put say she too use with this that from they them then than there their these those what when where
which while will would could should about after again also been before being both each even ever here into just
like more most much must only other over same some such very well were your yours very here just really today week
weeks year years day days last next first many every still already off yet via per les des une est pas pour par
dans sur avec sont qui que quoi mais donc car ses son sa leur leurs nos vos notre votre cette ces tout tous toute
toutes plus moins tres bien aussi fait faire etre avoir ete elle elles ils nous vous lui aux ceci cela comme entre
sans sous vers chez depuis pendant apres avant encore deja aujourd hui demain hier semaine jour jours annee
""".split())


@lru_cache(maxsize=65536)
def _term(word: str) -> str:
    """A word as the profile counts it: elision cut ("l'étude"), accents folded, a plural "s" dropped."""
    word = word.replace("’", "'").rsplit("'", 1)[-1]
    word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


def terms(text: str, ignore: frozenset[str] = frozenset()) -> frozenset[str]:
    """The content words of a text (`insight.content_words`) of three letters or more, as the profile counts them,
    and its hashtags and @mentions (a topic's tag, a speaker's handle), except `ignore` (the event's own tags)."""
    words = {t for t in map(_term, content_words(text)) if len(t) >= 3 and t not in FUNCTION_WORDS}
    words.update(m.lower() for m in HASHTAG.findall(text) + MENTION.findall(text))
    return frozenset(words - ignore) if ignore else frozenset(words)


def _folded(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


@dataclass(frozen=True)
class _Session:
    index: int
    title: str
    start: datetime | None
    end: datetime | None
    terms: frozenset[str]


@dataclass(frozen=True)
class Judgement:
    """What the topic says of one post. `relevance` is None when the pool is too small to say anything."""

    relevance: float | None
    off_topic: bool = False
    session: str | None = None  # the programme session's title
    speakers: tuple[str, ...] = ()  # programme speakers the post names or @-mentions (as the programme writes them)
    speaker_author: str | None = None  # the programme speaker who wrote it


@dataclass
class Topic:
    """The event's subject as the round sees it; `judge` tells each post's relevance, session and speakers."""

    support: dict[str, float] = field(default_factory=dict)  # word → voters who used it
    idf: dict[str, float] = field(default_factory=dict)
    documents: int = 0
    voters: int = 0
    sessions: list[_Session] = field(default_factory=list)
    # Leave-one-out: each author's own words, and each post's group's voter (by post key).
    own: dict[str, frozenset[str]] = field(default_factory=dict)
    voter_of: dict[tuple[str, str], str] = field(default_factory=dict)
    words_of: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)  # each learnt post's, read once
    by_term: dict[str, list[int]] = field(default_factory=dict)  # word → sessions whose text has it
    norms: list[float] = field(default_factory=list)  # each session's vector norm
    by_start: list[tuple[datetime, int]] = field(default_factory=list)
    longest: timedelta = timedelta(0)
    # Programme speakers: by a full name's first word (the name's words, its session, its label), and by handle.
    speaker_names: dict[str, list[tuple[tuple[str, ...], int, str]]] = field(default_factory=dict)
    speaker_handles: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()  # the event's own hashtags: every post carries them

    @property
    def rule(self) -> Literal["neutral", "lower", "exclude"]:
        """What an off-topic post suffers: a programme or a pool of EXCLUDE_FROM voters can judge, so it is never
        picked (like the quality floor, no expert's weight or likes should carry it into a relay's name); a small
        pool lowers it only, since there a post's unshared words may just be the first about its session."""
        if self.sessions or self.voters >= EXCLUDE_FROM:
            return "exclude"
        return "lower" if self.voters >= LOWER_FROM else "neutral"

    @classmethod
    def learn(cls, posts: Sequence[Mapping[str, Any]], groups: Iterable[Sequence[int]], *,
              programme: Sequence[Session] = (), event_tags: Iterable[str] = ()) -> Topic:
        """The subject of `posts` (mappings with `text` and `author`; `network` and `post_id` identify them) and
        of the programme; `groups` are the posts' near-duplicate groups (`selection.near_duplicate_groups`)."""
        topic = cls(ignore=frozenset("#" + t.lower().lstrip("#") for t in event_tags))
        words_of: dict[str, set[str]] = {}
        document_frequency: dict[str, int] = {}
        for group in groups:
            members = [posts[i] for i in group]
            voter = str(members[0].get("author", "")).lower()  # one voice for the whole group
            words: set[str] = set()
            for post in members:
                key = _key(post)
                topic.words_of[key] = terms(str(post["text"]), topic.ignore)
                words |= topic.words_of[key]
                topic.voter_of[key] = voter
            words_of.setdefault(voter, set()).update(words)
            for word in words:
                document_frequency[word] = document_frequency.get(word, 0) + 1
            topic.documents += 1
        for voter, words in words_of.items():
            topic.own[voter] = frozenset(words)
            for word in words:
                topic.support[word] = topic.support.get(word, 0.0) + 1.0
        topic.voters = len(words_of)
        topic._add_programme(programme, document_frequency)
        total = topic.documents + 1
        topic.idf = {word: math.log(total / (df + 1)) + 1.0 for word, df in document_frequency.items()}
        topic._index_sessions()
        return topic

    def _add_programme(self, programme: Sequence[Session], document_frequency: dict[str, int]) -> None:
        for index, session in enumerate(programme):
            refs = session.speaker_refs
            text = " ".join([session.title, session.abstract or "", *(s.name for s in refs)])
            words = terms(text)
            self.sessions.append(_Session(index, session.title, session.start, session.end, words))
            for word in words:
                self.support[word] = self.support.get(word, 0.0) + PROGRAMME_VOTES
                document_frequency[word] = document_frequency.get(word, 0) + 1
            self.documents += 1
            for speaker in refs:
                self._add_speaker(speaker, index)

    def _add_speaker(self, speaker: Speaker, index: int) -> None:
        if speaker.handle:
            self.speaker_handles.setdefault(speaker.handle, []).append((index, speaker.label))
        name = tuple(_folded(speaker.name).split())
        if len(name) >= 2:  # one word ("Amina") names too many people to credit anyone
            self.speaker_names.setdefault(name[0], []).append((name, index, speaker.label))

    def _index_sessions(self) -> None:
        for session in self.sessions:
            for word in session.terms:
                self.by_term.setdefault(word, []).append(session.index)
            self.norms.append(math.sqrt(sum(self.idf[w] ** 2 for w in session.terms)) or 1.0)
            if session.start and session.end:
                self.by_start.append((session.start, session.index))
                self.longest = max(self.longest, session.end - session.start)
        self.by_start.sort()

    def speaker_of(self, author: str) -> str | None:
        """The programme speaker (as the programme writes them) whose handle is `author` (or user@instance's user)."""
        return next((label for _, label in self.speaker_handles.get(author.lower().lstrip("@").split("@")[0], [])), None)

    # --- one post ------------------------------------------------------------------------------------------
    def judge(self, post: Mapping[str, Any], at: datetime | None = None) -> Judgement:
        """The post's relevance (None in a pool too small to judge, without a programme), whether it is off topic,
        the programme session it is about and the programme speakers it names, mentions, or is (`at`: when it
        was written)."""
        key = _key(post)
        words = self.words_of.get(key) or terms(str(post["text"]), self.ignore)
        author = str(post.get("author", "")).lower()
        speakers, named = self._speakers_in(str(post["text"]), author)
        speaker_author = self.speaker_of(author)
        similar = self._similar(words) if self.sessions else {}
        session = self._session_of(similar, at, named)
        if self.rule == "neutral":
            return Judgement(None, session=session, speakers=speakers, speaker_author=speaker_author)
        relevance = self.relevance(words, author, self.voter_of.get(key))
        # A session matched by its words or its speakers is evidence enough; matched by time alone, it is not.
        about_session = bool(named or similar)
        off_topic = relevance < OFF_TOPIC and not about_session and not _reports_talk(words, post)
        return Judgement(round(relevance, 3), off_topic=off_topic, session=session,
                         speakers=speakers, speaker_author=speaker_author)

    def relevance(self, words: frozenset[str], author: str, voter: str | None) -> float:
        """The IDF-weighted share of `words` that voters other than the author (and the post's group) support."""
        mine = self.own.get(author, frozenset())
        group = self.own.get(voter, frozenset()) if voter and voter != author else frozenset()
        weight = supported = 0.0
        for word in words:
            idf = self.idf.get(word, math.log(self.documents + 1) + 1.0)
            others = self.support.get(word, 0.0) - (word in mine) - (word in group)
            weight += idf
            supported += idf * min(1.0, max(0.0, others) / FULL_SUPPORT)
        return supported / weight if weight else 0.0

    def _similar(self, words: frozenset[str]) -> dict[int, float]:
        """Sessions whose words the post shares, by cosine (IDF weights), kept from SESSION_SIMILAR."""
        shared: dict[int, float] = {}
        for word in words:
            for index in self.by_term.get(word, ()):
                shared[index] = shared.get(index, 0.0) + self.idf[word] ** 2
        if not shared:
            return {}
        norm = math.sqrt(sum(self.idf.get(w, 1.0) ** 2 for w in words)) or 1.0
        return {i: v / (norm * self.norms[i]) for i, v in shared.items() if v / (norm * self.norms[i]) >= SESSION_SIMILAR}

    def _speakers_in(self, text: str, author: str) -> tuple[tuple[str, ...], dict[int, str]]:
        """Programme speakers the text @-mentions or names in full (not the author themselves), and their sessions."""
        found: dict[int, str] = {}
        labels: list[str] = []
        if not self.speaker_handles and not self.speaker_names:
            return (), found
        for mention in MENTION.findall(text):
            handle = mention[1:].lower()
            for index, label in self.speaker_handles.get(handle, ()):
                if handle != author.split("@")[0]:
                    found.setdefault(index, label)
                    labels.append(label)
        if self.speaker_names:
            words = _folded(clean(text)).replace("'", " ").replace("’", " ").split()
            words = [w.strip(".,;:!?()\"«»“”") for w in words]
            for i, word in enumerate(words):
                for name, index, label in self.speaker_names.get(word, ()):
                    if tuple(words[i : i + len(name)]) == name:
                        found.setdefault(index, label)
                        labels.append(label)
        return tuple(dict.fromkeys(labels)), found

    def _running(self, at: datetime | None) -> list[int]:
        """Sessions under way at `at`, or ended less than AFTER_SESSION before."""
        if at is None or not self.by_start:
            return []
        running = []
        for i in range(bisect_right(self.by_start, (at, len(self.sessions))) - 1, -1, -1):
            start, index = self.by_start[i]
            if start < at - self.longest - AFTER_SESSION:
                break
            end = self.sessions[index].end
            if end is not None and at <= end + AFTER_SESSION:
                running.append(index)
        return running

    def _session_of(self, similar: dict[int, float], at: datetime | None, named: dict[int, str]) -> str | None:
        """The session a post is about: a speaker it names counts most, then its words, then being written while
        the session ran; time alone is enough only when a single session was running."""
        if not self.sessions:
            return None
        running = set(self._running(at))
        scores = {index: 1.0 for index in named}
        for index, similarity in similar.items():
            scores[index] = scores.get(index, 0.0) + similarity
        if not scores:
            return self.sessions[running.pop()].title if len(running) == 1 else None
        best = max(scores, key=lambda i: (scores[i] + 0.25 * (i in running), -i))
        return self.sessions[best].title


def _reports_talk(words: frozenset[str], post: Mapping[str, Any]) -> bool:
    """The form of a post from the room: it names a talk, attributes a point to a speaker or quotes one. On real
    feeds many dense posts on a niche talk share few words with the pool (a pool-learnt subject alone would drop
    a sixth of the best posts of a bioinformatics meeting); spam, job ads and unrelated chatter report no talk.
    Checked only for the few posts whose words are off the subject."""
    if words & TALK_WORDS:
        return True
    found = features(text=str(post["text"]), lang=str(post.get("lang") or "und"))
    return bool(found.get("speaker") or found.get("quote"))


def _key(post: Mapping[str, Any]) -> tuple[str, str]:
    return str(post.get("network", "")), str(post.get("post_id", post.get("text", "")))
