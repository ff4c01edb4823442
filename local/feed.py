"""A generated conference feed for the demo and the tests.

`generate_conference_feed` writes a plausible hashtag feed of a two-day professional conference: posts
about talks (findings with figures, methods, named tools, quotes of speakers), several people live-tweeting
the same slide with small variations, logistics, promotion, congratulations, social chatter, reply
fragments, link-only posts and a few native reposts, some of them in French. Every sentence comes from
the templates below, written for this project; nothing is copied from a real feed. The talks, speakers,
tools and figures are fictional.

Engagement (likes, reposts, replies, quotes) deliberately does not follow insight: social chatter and
congratulations collect the most likes, as on the real network, so a selector that ranks by likes picks
the wrong posts.

Each `Post` carries hidden labels for the demo and the tests, never served by the sandbox:
`kind` (insight, pointer, logistics, promotion, congrats, chatter, reply, link, retweet), `insight`
(0/1/2, same scale as `shared/data/insight/RUBRIC.md`) and `slide` (the key shared by live-tweets of one
slide). The generator is deterministic for a given seed and event span; it never reads the clock.
"""

from __future__ import annotations

import math
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

__all__ = [
    "KINDS",
    "Metrics",
    "Post",
    "generate_conference_feed",
    "hashtags_of",
    "snowflake_id",
    "snowflake_time",
]

#: The hidden `kind` labels.
KINDS = ("insight", "pointer", "logistics", "promotion", "congrats", "chatter", "reply", "link", "retweet")

_TWITTER_EPOCH_MS = 1288834974657
#: Worker bits of generated feed ids (the sandbox uses another worker for the posts it creates).
FEED_WORKER = 7

_HASHTAG = re.compile(r"(?<![\w&])#(\w*[^\W\d]\w*)", re.UNICODE)


def snowflake_id(created_at: datetime, sequence: int = 0, worker: int = FEED_WORKER) -> str:
    """An X-style post id (decimal string) for an instant: ids grow with time, like real ones."""
    ms = int(created_at.timestamp() * 1000) - _TWITTER_EPOCH_MS
    if ms < 0:
        raise ValueError("instant before the X id epoch (2010-11-04)")
    return str((ms << 22) | ((worker & 0x3FF) << 12) | (sequence & 0xFFF))


def snowflake_time(post_id: str | int) -> datetime:
    """The instant encoded in an X-style id."""
    return datetime.fromtimestamp(((int(post_id) >> 22) + _TWITTER_EPOCH_MS) / 1000, UTC)


def hashtags_of(text: str) -> list[tuple[str, int, int]]:
    """Hashtags of a text as (tag without '#', start, end) with code-point offsets, as X's entities."""
    return [(m.group(1), m.start(), m.end()) for m in _HASHTAG.finditer(text)]


@dataclass(frozen=True, slots=True)
class Metrics:
    """Public engagement counters of a post."""

    like_count: int = 0
    retweet_count: int = 0
    reply_count: int = 0
    quote_count: int = 0
    bookmark_count: int = 0
    impression_count: int = 0

    def as_public_metrics(self) -> dict[str, int]:
        """X's `public_metrics` object. Both `retweet_count` (what the API and tweepy use) and
        `repost_count` (what the v2.167 OpenAPI document requires) are given."""
        return {
            "retweet_count": self.retweet_count,
            "repost_count": self.retweet_count,
            "reply_count": self.reply_count,
            "like_count": self.like_count,
            "quote_count": self.quote_count,
            "bookmark_count": self.bookmark_count,
            "impression_count": self.impression_count,
        }


@dataclass(frozen=True, slots=True)
class Post:
    """One post of a feed. `kind`, `insight` and `slide` are hidden labels (never served)."""

    id: str
    text: str
    author_id: str
    username: str
    created_at: datetime
    lang: str = "en"
    metrics: Metrics = field(default_factory=Metrics)
    is_reply: bool = False
    name: str = ""
    conversation_id: str = ""
    in_reply_to_id: str | None = None
    in_reply_to_user_id: str | None = None
    retweet_of: str | None = None
    kind: str = "chatter"
    insight: int = 0
    slide: str | None = None

    @property
    def is_retweet(self) -> bool:
        return self.retweet_of is not None

    @property
    def hashtags(self) -> list[str]:
        return [tag for tag, _, _ in hashtags_of(self.text)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601 UTC), labels included."""
        return {
            "id": self.id,
            "text": self.text,
            "author_id": self.author_id,
            "username": self.username,
            "name": self.name,
            "created_at": self.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "lang": self.lang,
            "metrics": self.metrics.as_public_metrics(),
            "is_reply": self.is_reply,
            "conversation_id": self.conversation_id or self.id,
            "in_reply_to_id": self.in_reply_to_id,
            "in_reply_to_user_id": self.in_reply_to_user_id,
            "retweet_of": self.retweet_of,
            "kind": self.kind,
            "insight": self.insight,
            "slide": self.slide,
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Post:
        """Build a post from a dict such as `to_dict()`'s (created_at as ISO string or datetime)."""
        created = data["created_at"]
        if isinstance(created, str):
            created = datetime.fromisoformat(created.replace("Z", "+00:00"))
        if created.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        raw = data.get("metrics") or data.get("public_metrics") or {}
        if isinstance(raw, Metrics):
            metrics = raw
        else:
            metrics = Metrics(
                like_count=int(raw.get("like_count", 0)),
                retweet_count=int(raw.get("retweet_count", raw.get("repost_count", 0))),
                reply_count=int(raw.get("reply_count", 0)),
                quote_count=int(raw.get("quote_count", 0)),
                bookmark_count=int(raw.get("bookmark_count", 0)),
                impression_count=int(raw.get("impression_count", 0)),
            )
        return cls(
            id=str(data["id"]),
            text=data["text"],
            author_id=str(data["author_id"]),
            username=data["username"],
            created_at=created.astimezone(UTC),
            lang=data.get("lang", "en"),
            metrics=metrics,
            is_reply=bool(data.get("is_reply", False)),
            name=data.get("name") or data["username"],
            conversation_id=str(data.get("conversation_id") or data["id"]),
            in_reply_to_id=data.get("in_reply_to_id"),
            in_reply_to_user_id=data.get("in_reply_to_user_id"),
            retweet_of=data.get("retweet_of"),
            kind=data.get("kind", "chatter"),
            insight=int(data.get("insight", 0)),
            slide=data.get("slide"),
        )


# --------------------------------------------------------------------------------------------------
# The content: fictional talks, written for this project.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Talk:
    topic: str
    topic_fr: str
    tool: str
    what: str
    what_fr: str
    finding: str
    finding_fr: str
    method: str
    quote: str
    slide: str
    takeaway: str
    tags: tuple[str, ...]


_TALKS: tuple[_Talk, ...] = (
    _Talk("carbon-aware batch scheduling", "l'ordonnancement bas carbone", "Tidewater",
          "moves deferrable batch jobs into low-carbon hours",
          "décale les traitements différables vers les heures bas carbone",
          "cut the emissions of nightly ETL by 31% with zero missed deadlines",
          "a réduit de 31 % les émissions de l'ETL nocturne sans aucune échéance ratée",
          "forecasting grid carbon intensity a day ahead and scheduling against it",
          "The greenest query is the one you run at the right hour.",
          "38% of batch jobs can slide by 6 hours without anyone noticing",
          "tag every job with a deadline, not a start time", ("greenit", "dataeng")),
    _Talk("schema evolution without downtime", "l'évolution de schéma sans interruption", "Loam",
          "diffs schemas and generates reversible migrations",
          "compare les schémas et génère des migrations réversibles",
          "took the median migration window from 47 minutes to under 2",
          "a fait passer la fenêtre médiane de migration de 47 minutes à moins de 2",
          "expand-and-contract migrations rehearsed in CI against a production snapshot",
          "Every migration should be boring, reversible and rehearsed.",
          "1 in 9 schema changes in their audit had no rollback path",
          "rehearse every migration against yesterday's snapshot", ("databases",)),
    _Talk("observability budgets", "les budgets d'observabilité", "Driftwatch",
          "samples traces by error budget instead of at a fixed rate",
          "échantillonne les traces selon le budget d'erreur plutôt qu'à taux fixe",
          "kept 99% of error traces while storing 72% less telemetry",
          "a gardé 99 % des traces d'erreur avec 72 % de télémétrie en moins",
          "tail-based sampling driven by each service's SLO burn rate",
          "Telemetry you never query is a tax, not insurance.",
          "64% of stored spans were never read in 90 days",
          "sample what you will debug, not what is cheap to keep", ("observability", "sre")),
    _Talk("healthier on-call", "des astreintes plus saines", "Pagerest",
          "routes low-urgency alerts to business hours",
          "renvoie les alertes peu urgentes aux heures ouvrées",
          "halved night pages over two quarters while MTTR stayed flat",
          "a divisé par deux les alertes de nuit en deux trimestres, sans dégrader le MTTR",
          "classifying every alert by customer impact before it can page anyone",
          "If it can wait until morning, it must wait until morning.",
          "83% of 3am pages in their sample needed no action",
          "every page should name the customer harm", ("sre", "oncall")),
    _Talk("data contracts", "les contrats de données", "Parcelite",
          "checks data contracts at the producer before anything lands in the lake",
          "vérifie les contrats de données chez le producteur avant l'arrivée dans le lac",
          "caught 212 breaking changes in a year before a single dashboard broke",
          "a intercepté 212 changements cassants en un an avant qu'un tableau de bord ne casse",
          "versioned contracts enforced in the producer's CI",
          "A data contract is an API you forgot you published.",
          "70% of broken dashboards traced back to an upstream rename",
          "put the contract test in the producer's pipeline", ("dataeng", "dataquality")),
    _Talk("efficient inference on small hardware", "l'inférence efficace sur petit matériel", "Kestrel",
          "quantises models to 4 bits with a per-layer error check",
          "quantifie les modèles sur 4 bits avec un contrôle d'erreur par couche",
          "served the same model on a 40 W board at 93% of the original accuracy",
          "a servi le même modèle sur une carte de 40 W à 93 % de la précision d'origine",
          "per-layer sensitivity analysis before any quantisation",
          "Most of your model does not need 16 bits; find the part that does.",
          "3 layers out of 48 account for 80% of the quantisation error",
          "measure sensitivity per layer before shrinking anything", ("mlops", "edgeai")),
    _Talk("privacy-preserving analytics", "l'analytique respectueuse de la vie privée", "Quillmap",
          "adds calibrated noise to aggregate queries",
          "ajoute un bruit calibré aux requêtes agrégées",
          "kept the error under 2% for city-level counts with an epsilon of 1",
          "a maintenu l'erreur sous 2 % pour des comptages par ville avec un epsilon de 1",
          "differential privacy with a privacy budget per team",
          "Privacy budgets are budgets: someone has to say no.",
          "queries about fewer than 50 people are refused outright",
          "give each team a visible privacy budget", ("privacy",)),
    _Talk("accessible dashboards", "l'accessibilité des tableaux de bord", "Lumen Audit",
          "audits dashboards for colour contrast and screen-reader labels",
          "audite le contraste et les libellés pour lecteurs d'écran des tableaux de bord",
          "fixed 1,400 accessibility issues across 300 dashboards in six weeks",
          "a corrigé 1 400 problèmes d'accessibilité sur 300 tableaux de bord en six semaines",
          "automated checks in code review plus monthly sessions with screen-reader users",
          "A chart nobody can read is just decoration.",
          "41% of their charts relied on colour alone",
          "never encode meaning in colour alone", ("a11y", "dataviz")),
    _Talk("incident reviews that teach", "des revues d'incident qui font apprendre", "Retrace",
          "links incident timelines to the code and config changes behind them",
          "relie la chronologie d'un incident aux changements de code et de configuration",
          "found that 58% of incidents followed a config change, not a deploy",
          "a montré que 58 % des incidents suivaient un changement de configuration, pas un déploiement",
          "blameless reviews built on a fixed timeline template",
          "Ask how it made sense at the time, not who did it.",
          "median time from a change to the incident it caused: 19 minutes",
          "review config changes as carefully as code", ("sre", "postmortem")),
    _Talk("edge caching for APIs", "le cache en périphérie pour les API", "Canopy",
          "caches API responses at the edge with per-tenant invalidation",
          "met en cache les réponses d'API en périphérie avec une invalidation par client",
          "cut p95 latency from 340 ms to 85 ms for read-heavy tenants",
          "a fait passer la latence p95 de 340 ms à 85 ms pour les clients surtout en lecture",
          "surrogate keys per tenant and event-driven purges",
          "Invalidation is a product decision, not a TTL.",
          "92% of requests were reads of data older than a minute",
          "purge on events, not on timers", ("performance", "apis")),
    _Talk("funding open source", "le financement de l'open source", "Commons Ledger",
          "maps the open-source packages a company builds on and funds their maintainers",
          "recense les paquets open source dont dépend une entreprise et finance leurs mainteneurs",
          "directed funding to 120 maintainers whose packages sit in 80% of their builds",
          "a orienté des fonds vers 120 mainteneurs présents dans 80 % de leurs builds",
          "weighting dependencies by build frequency rather than by stars",
          "Stars measure attention; builds measure dependence.",
          "14 maintainers hold up half of their critical dependency graph",
          "fund what your builds depend on, not what is popular", ("opensource",)),
    _Talk("testing with production traffic", "les tests avec le trafic de production", "Mirrorpond",
          "replays scrubbed production traffic against release candidates",
          "rejoue le trafic de production anonymisé sur les versions candidates",
          "caught 27 regressions in a quarter that unit tests had missed",
          "a détecté 27 régressions en un trimestre que les tests unitaires avaient manquées",
          "shadow traffic with response diffing and PII scrubbing",
          "Your users are the best test suite you will never write.",
          "1% of replayed traffic found 90% of the regressions",
          "a small replay sample finds most regressions", ("testing", "devops")),
    _Talk("cost-aware storage tiering", "le stockage hiérarchisé selon les coûts", "Strata",
          "moves cold objects to cheaper tiers from access forecasts",
          "déplace les objets froids vers des niveaux moins chers selon des prévisions d'accès",
          "saved 44% of storage spend with no retrieval surprises",
          "a économisé 44 % des dépenses de stockage sans mauvaise surprise à la relecture",
          "forecasting object access from the last 30 days of reads",
          "Data has a temperature; bill it accordingly.",
          "5% of objects receive 95% of reads",
          "forecast access before choosing a tier", ("finops", "cloud")),
    _Talk("feature flag hygiene", "l'hygiène des feature flags", "Flagstone",
          "finds stale feature flags and opens removal pull requests",
          "repère les feature flags obsolètes et ouvre des pull requests de suppression",
          "removed 600 dead flags and 18,000 lines of code in a month",
          "a supprimé 600 flags morts et 18 000 lignes de code en un mois",
          "static analysis combined with flag evaluation logs",
          "A flag is a loan; pay it back.",
          "the average flag outlived its launch by 7 months",
          "give every flag an expiry date when you create it", ("devops",)),
    _Talk("a verifiable software supply chain", "une chaîne logicielle vérifiable", "Provenant",
          "signs build artefacts and verifies their provenance at deploy time",
          "signe les artefacts de build et vérifie leur provenance au déploiement",
          "blocked 3 tampered images within seconds during a red-team exercise",
          "a bloqué en quelques secondes 3 images falsifiées lors d'un exercice red team",
          "signed provenance attestations checked by the deploy gate",
          "If you cannot say where a binary came from, do not run it.",
          "only 12% of surveyed teams verify provenance at deploy",
          "verify provenance at the deploy gate, not after the fact", ("security", "supplychain")),
    _Talk("streaming joins at scale", "les jointures en flux à grande échelle", "Riverbend",
          "joins event streams with bounded state using watermarks",
          "joint des flux d'événements avec un état borné grâce aux watermarks",
          "cut state size tenfold while handling 2 million events per second",
          "a divisé par 10 la taille de l'état à 2 millions d'événements par seconde",
          "watermark-based state eviction with a side output for late data",
          "Unbounded state is just a slow outage.",
          "99.7% of late events arrive within 90 seconds",
          "size your watermark from measured lateness", ("streaming", "dataeng")),
    _Talk("evaluating LLM features in production", "l'évaluation des LLM en production", "Gauge",
          "scores model answers against a labelled set on every release",
          "note les réponses du modèle sur un jeu étiqueté à chaque version",
          "exposed a 6-point drop in factuality that the offline benchmark missed",
          "a révélé une baisse de 6 points de factualité que le benchmark hors ligne avait manquée",
          "a small, curated, versioned evaluation set refreshed every month",
          "A benchmark you never refresh slowly turns into a souvenir.",
          "200 curated examples predicted user ratings better than 20,000 synthetic ones",
          "curate a small eval set and keep refreshing it", ("llm", "mlops")),
    _Talk("documentation as a product", "la documentation comme produit", "Docket",
          "tests the code samples of the docs on every commit",
          "teste à chaque commit les exemples de code de la documentation",
          "cut setup-related support tickets by 38%",
          "a réduit de 38 % les tickets de support liés à l'installation",
          "executable docs whose samples run in CI",
          "Docs that are not tested are fiction with syntax highlighting.",
          "1 in 4 code samples in their old docs no longer ran",
          "run every doc sample in CI", ("docs", "devex")),
    _Talk("backpressure in message queues", "la contre-pression dans les files de messages", "Sluice",
          "applies adaptive backpressure to message queues",
          "applique une contre-pression adaptative aux files de messages",
          "kept p99 latency flat through a fivefold traffic spike",
          "a gardé une latence p99 stable pendant un pic de trafic multiplié par cinq",
          "concurrency limits tuned from measured latency",
          "A queue without backpressure is a promise you cannot keep.",
          "retries made up 60% of the load during their worst outage",
          "budget retries like any other traffic", ("distributedsystems", "sre")),
    _Talk("a lighter web frontend", "un frontend web plus sobre", "Featherweight",
          "measures the energy cost of web pages in CI",
          "mesure le coût énergétique des pages web en CI",
          "cut page weight by 58% and client-side energy by a third",
          "a réduit le poids des pages de 58 % et l'énergie côté client d'un tiers",
          "an energy budget per page checked on every pull request",
          "Every kilobyte is shipped a million times.",
          "third-party scripts were 47% of their page weight",
          "set a weight budget per page and enforce it", ("webperf", "greenit")),
)

_FIRST = (
    "Amara", "Lucas", "Mei", "Jonas", "Priya", "Mateo", "Ingrid", "Kofi", "Sofia", "Tomasz", "Aiko",
    "Elena", "Rahul", "Chloé", "Dmitri", "Fatima", "Hugo", "Leila", "Nils", "Oluwaseun", "Paula",
    "Quentin", "Rosa", "Santiago", "Tanvi", "Ulla", "Victor", "Wen", "Yara", "Zainab", "Bastien",
    "Camille", "Dario", "Esther", "Farid", "Greta", "Hiro", "Inès", "Joaquim", "Karin", "Léa",
    "Malik", "Noor", "Oskar", "Pilar", "Rémi", "Selin", "Théo", "Uma", "Vera", "Wiktor", "Ximena",
)
_LAST = (
    "Okafor", "Moreau", "Chen", "Lindqvist", "Raman", "Ortega", "Haugen", "Mensah", "Ricci", "Nowak",
    "Tanaka", "Petrova", "Iyer", "Lefèvre", "Volkov", "Haddad", "Marchand", "Nasser", "Berg", "Adeyemi",
    "Duarte", "Girard", "Romero", "Vargas", "Kapoor", "Virtanen", "Dubois", "Zhang", "Salem", "Bakr",
    "Fontaine", "Rossi", "Klein", "Aziz", "Becker", "Sato", "Roux", "Pereira", "Lund", "Bonnet",
)
_FRENCH_FIRST = {"Chloé", "Hugo", "Quentin", "Bastien", "Camille", "Inès", "Léa", "Rémi", "Théo", "Victor"}

_ORGS = (
    ("org", "Conference team"),
    ("NimbusStackHQ", "NimbusStack"),
    ("QuarryDataIO", "Quarry Data"),
    ("DevWireNews", "DevWire"),
)
_PRODUCTS = {"NimbusStackHQ": "NimbusStack Cloud", "QuarryDataIO": "Quarry Lakehouse"}

_ROOMS = ("Hall A", "Hall B", "Room 2.14", "the Auditorium", "Room 3.02", "the Loft")
_ROOMS_FR = ("la salle A", "le hall B", "la salle 2.14", "l'auditorium", "la salle 3.02", "le Loft")
_EMOJI = ("", "", "", " 🔥", " 👏", " 📊", " 💡", " 🚀")

# Insight (2) templates, English. Fields: s (speaker ref), topic, tool, what, finding, method, quote,
# takeaway, link, tag.
_INSIGHT_EN = (
    "{s}: {tool} {what}; in production it {finding}. {tag}",
    "Key result from {s}'s talk on {topic}: {tool} {finding}. {tag}",
    "\"{quote}\" — {s} on {topic} {tag}",
    "{s} explains the method behind {tool}: {method}. Result: it {finding}. {tag}",
    "Takeaway from the {topic} session: {takeaway}. {s} showed that {tool} {finding}. {tag}",
    "Learning a lot from {s} on {topic}. {tool} {what}, and it {finding}. Code: {link} {tag}",
    "{s} on {topic}: \"{quote}\" Their approach: {method}. {tag}",
    "Notes from {s}'s talk: {tool} {what}. Main lesson: {takeaway}. {tag}",
)
_INSIGHT_FR = (
    "{s} : {tool} {what_fr} ; en production, l'outil {finding_fr}. {tag}",
    "Résultat marquant de {s} sur {topic_fr} : {tool} {finding_fr}. {tag}",
    "« {quote} » — {s}, belle intervention sur {topic_fr}. {tag}",
    "Très bon talk de {s} sur {topic_fr} : {tool} {what_fr}, et {finding_fr}. {tag}",
)
_SLIDE = (
    "{slide} — {s} {tag}",
    "Wow: {slide} ({s}) {tag}",
    "{s}: {slide} {tag}{emoji}",
    "Key slide from {s}: {slide} {tag}",
    "{slide}!! via {s} {tag}",
    "This slide from {s}: {slide}. {tag}",
    "{tag} {s}: {slide}{emoji}",
)
# Pointers (1): name something specific without its substance.
_POINTER_EN = (
    "Slides for {s}'s talk on {topic}: {link} {tag}",
    "Up next in {room}: {s} on {topic} {tag}",
    "Starting now: {topic} with {s} in {room} {tag}",
    "Recording of the {topic} session is online: {link} {tag}",
    "Best talk award goes to {s} for the work on {tool}! {tag}",
    "If you missed {s} on {topic}, the paper is here: {link} {tag}",
)
_POINTER_FR = (
    "Les slides de {s} sur {topic_fr} : {link} {tag}",
    "Ça commence dans {room_fr} : {s} sur {topic_fr} {tag}",
)
_LOGISTICS_EN = (
    "Coffee is served in hall B until {clock} {tag}",
    "Reminder: the wifi password is printed on the back of your badge {tag}",
    "Room change: the {topic} session moves to {room} {tag}",
    "The registration desk is busy, badges can also be picked up at the info point {tag}",
    "Lunch is in the atrium, vegetarian options on the left {tag}",
    "The cloakroom closes at 19:00 tonight {tag}",
    "Shuttle to the dinner leaves from the main entrance at {clock} {tag}",
    "Lost and found is at the registration desk {tag}",
    "Live captions are available for every session in {room} {tag}",
    "Reminder: the venue doors open at 08:30 every morning {tag}",
)
_LOGISTICS_FR = (
    "Café servi dans le hall B jusqu'à {clock} {tag}",
    "Rappel : le mot de passe du wifi est au dos du badge {tag}",
    "Changement de salle : la session sur {topic_fr} passe dans {room_fr} {tag}",
    "Le vestiaire ferme à 19h ce soir {tag}",
    "Déjeuner dans l'atrium, options végétariennes à gauche {tag}",
)
_PROMOTION = (
    "Visit us at booth {booth} for a live demo of {product} {tag}",
    "We're hiring! Come and talk to our engineers at booth {booth} {tag}",
    "Last chance to grab our stickers and t-shirts at booth {booth} {tag}",
    "Join our hands-on workshop tomorrow at 14:00 in {room}, seats are limited {tag}",
    "Free trial of {product} for every attendee, ask us at booth {booth} {tag}",
    "Our new whitepaper is out, get it at booth {booth} {tag} {link}",
)
_PROMOTION_FR = (
    "Passez au stand {booth} pour une démo de {product} {tag}",
    "On recrute ! Venez discuter avec nous au stand {booth} {tag}",
)
_CONGRATS_EN = (
    "Congrats {s} on a fantastic talk! {tag}",
    "Well deserved applause for {s} {tag} 👏",
    "So proud of {s} today {tag}",
    "Brilliant session {s}, thank you! {tag}",
    "Great talk by {s}! {tag}",
    "Congratulations to all the speakers of the morning {tag} 🎉",
)
_CONGRATS_FR = (
    "Bravo {s} pour ce super talk ! {tag}",
    "Félicitations {s}, quelle présentation ! {tag} 👏",
)
_CHATTER_EN = (
    "Great to see so many familiar faces at {tag}!",
    "Day {day} of {tag}, let's go ☕",
    "Team selfie at {tag} 📸",
    "Best conference food ever {tag}",
    "Jet-lagged but so happy to be at {tag}",
    "Who's coming to the dinner tonight? {tag}",
    "Already my favourite week of the year {tag} 😍",
    "Finally met my internet friends IRL {tag}",
    "The energy in this room! {tag}",
    "Sneaking out for some fresh air between sessions {tag}",
    "Note to self: bring a power bank next year {tag}",
    "Such a friendly crowd this year {tag} ❤️",
)
_CHATTER_FR = (
    "Super ambiance au {tag} ce matin !",
    "Jour {day} du {tag}, c'est parti ☕",
    "Ravie de retrouver tout le monde au {tag}",
    "Petit selfie d'équipe au {tag} 📸",
)
_REPLY_EN = (
    "@{to} agreed!",
    "@{to} same here, see you at the break",
    "@{to} which room is that in?",
    "@{to} great point, is there a link to the paper?",
    "@{to} +1",
    "@{to} haha exactly",
    "@{to} saving a seat for you",
    "@{to} thanks for sharing! {tag}",
    "@{to} were the slides shared? {tag}",
)
_REPLY_FR = (
    "@{to} merci !",
    "@{to} carrément d'accord",
    "@{to} on se retrouve à la pause ?",
)
_TOPIC_TAG_CHANCE = 0.18


@dataclass
class _Author:
    id: str
    username: str
    name: str
    french: bool
    popularity: float
    expert: bool = False
    org: bool = False


@dataclass
class _Draft:
    at: datetime
    author: _Author
    text: str
    lang: str
    kind: str
    insight: int
    slide: str | None = None
    parent: int | None = None  # index of the draft replied to
    retweet_of: int | None = None  # index of the draft reposted
    order: int = 0


def _username_from(first: str, last: str, rng: random.Random, taken: set[str]) -> str:
    def ascii_only(value: str) -> str:
        table = str.maketrans("éèêëàâäîïôöûüùçÉ", "eeeeaaaiioouuucE")
        return "".join(ch for ch in value.translate(table) if ch in string.ascii_letters)

    f, last_ascii = ascii_only(first), ascii_only(last)
    shapes = (
        f"{f}{last_ascii}",
        f"{f.lower()}_{last_ascii.lower()}",
        f"{f[0].lower()}{last_ascii.lower()}",
        f"{f}_{last_ascii[0]}",
        f"{last_ascii.lower()}{f[0].lower()}",
        f"{f.lower()}{last_ascii.lower()}_dev",
        f"{f}{last_ascii}Data",
    )
    start = rng.randrange(len(shapes))
    for i in range(len(shapes) * 3):
        candidate = shapes[(start + i) % len(shapes)][:15]
        if i >= len(shapes):
            candidate = f"{candidate[:12]}{rng.randrange(10, 99)}"
        if candidate.lower() not in taken:
            taken.add(candidate.lower())
            return candidate
    raise RuntimeError("could not make a unique username")


def _tag_variant(tag: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.10:
        return tag.lower()
    if roll < 0.14:
        return tag.upper()
    return tag


def _link(rng: random.Random) -> str:
    return "https://t.co/" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(10))


def _day_windows(start: datetime, end: datetime, day_hours: tuple[int, int]) -> list[tuple[datetime, datetime]]:
    tz = start.tzinfo
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    windows = []
    day = local_start.date()
    while day <= local_end.date():
        open_at = datetime.combine(day, time(day_hours[0]), tz)
        close_at = datetime.combine(day, time(day_hours[1]), tz)
        lo, hi = max(open_at, local_start), min(close_at, local_end)
        if hi - lo >= timedelta(hours=1):
            windows.append((lo.astimezone(UTC), hi.astimezone(UTC)))
        day += timedelta(days=1)
    if not windows:
        windows.append((start.astimezone(UTC), end.astimezone(UTC)))
    return windows


def _lognormal_count(rng: random.Random, median: float, sigma: float) -> int:
    return max(0, int(round(median * math.exp(rng.gauss(0.0, sigma)))))


_LIKE_MEDIAN = {
    "insight": 5.0, "pointer": 4.0, "logistics": 3.0, "promotion": 4.0, "congrats": 16.0,
    "chatter": 13.0, "reply": 1.0, "link": 1.0, "retweet": 0.0,
}


def _metrics(kind: str, author: _Author, rng: random.Random, viral: bool) -> Metrics:
    if kind == "retweet":
        return Metrics(impression_count=_lognormal_count(rng, 40, 0.6))
    likes = _lognormal_count(rng, _LIKE_MEDIAN[kind] * author.popularity, 0.9)
    if viral:
        likes = likes * 6 + 40
    reposts = _lognormal_count(rng, likes * (0.25 if kind in ("promotion", "insight") else 0.15) + 0.3, 0.7)
    replies = _lognormal_count(rng, likes * 0.12 + (1.5 if kind == "chatter" else 0.3), 0.8)
    quotes = 1 if rng.random() < (0.05 + 0.002 * likes) else 0
    bookmarks = _lognormal_count(rng, likes * (0.3 if kind in ("insight", "pointer") else 0.05), 0.8)
    impressions = max(likes * 25, _lognormal_count(rng, (likes + 2) * 70 * author.popularity, 0.5))
    return Metrics(likes, reposts, replies, quotes, bookmarks, impressions)


def generate_conference_feed(
    start: datetime,
    end: datetime,
    hashtag: str,
    *,
    seed: int = 7,
    n_posts: int = 360,
    n_authors: int = 48,
    experts: Sequence[str] = (),
    day_hours: tuple[int, int] = (9, 18),
) -> list[Post]:
    """Generate the hashtag feed of a professional conference held from `start` to `end`.

    Posts fall in conference hours (`day_hours`, local to `start`'s time zone: pass `start` in the
    event's zone to get its local hours) of each day of the span; the result is sorted by time and ids
    grow with time (X-style snowflakes). `experts` are usernames (with or without '@') that become
    authors (more of the insightful posts, some of them speakers). Deterministic for a seed.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        raise ValueError("end must be after start")
    experts = [e.lstrip("@") for e in experts]
    if len(set(e.lower() for e in experts)) != len(experts):
        raise ValueError("experts must be distinct")
    if n_posts < 40:
        raise ValueError("n_posts must be at least 40")
    if n_authors < len(experts) + len(_ORGS) + 6:
        raise ValueError("n_authors too small for the experts and the organisation accounts")
    tag_body = hashtag.lstrip("#")
    if not tag_body or not re.fullmatch(r"\w*[^\W\d]\w*", tag_body):
        raise ValueError(f"not a hashtag: {hashtag!r}")
    tag = "#" + tag_body
    rng = random.Random(f"relaycast-feed:{seed}")
    windows = _day_windows(start, end, day_hours)

    # ---- authors --------------------------------------------------------------------------------
    taken: set[str] = {e.lower() for e in experts}
    names = [(f, last) for f in _FIRST for last in _LAST]
    rng.shuffle(names)
    used_ids: set[str] = set()

    def new_user_id() -> str:
        while True:
            candidate = str(rng.randrange(10**8, 10**10) if rng.random() < 0.5 else rng.randrange(10**17, 10**18))
            if candidate not in used_ids:
                used_ids.add(candidate)
                return candidate

    authors: list[_Author] = []
    name_iter = iter(names)
    for username in experts:
        first, last = next(name_iter)
        authors.append(_Author(new_user_id(), username, f"{first} {last}", first in _FRENCH_FIRST,
                               popularity=rng.uniform(0.8, 2.2), expert=True))
    orgs: list[_Author] = []
    for handle, display in _ORGS:
        username = f"{tag_body[:11]}_org" if handle == "org" else handle
        display = f"{tag_body} {display}" if handle == "org" else display
        taken.add(username.lower())
        org = _Author(new_user_id(), username, display, False, popularity=rng.uniform(1.2, 2.5), org=True)
        orgs.append(org)
        authors.append(org)
    while len(authors) < n_authors:
        first, last = next(name_iter)
        username = _username_from(first, last, rng, taken)
        authors.append(_Author(new_user_id(), username, f"{first} {last}",
                               first in _FRENCH_FIRST or rng.random() < 0.08,
                               popularity=math.exp(rng.gauss(0.0, 0.6))))
    people = [a for a in authors if not a.org]
    organiser, sponsors, press = orgs[0], orgs[1:3], orgs[3]
    expert_authors = [a for a in authors if a.expert]

    def pick_person(expert_weight: float = 1.0, french: bool | None = None) -> _Author:
        pool = people if french is None else [a for a in people if a.french == french] or people
        weights = [expert_weight if a.expert else 1.0 for a in pool]
        return rng.choices(pool, weights=weights)[0]

    # ---- talks on the programme ---------------------------------------------------------------------
    talks = list(_TALKS)
    rng.shuffle(talks)
    per_day = max(1, math.ceil(len(talks) / len(windows)))
    speakers: dict[int, tuple[str, str]] = {}  # talk index -> (reference in text, speaker name)
    schedule: list[tuple[_Talk, datetime, datetime, int]] = []  # talk, start, end, day index
    speaker_pool = iter(names[len(names) // 2:])
    talk_index = 0
    for day_no, (lo, hi) in enumerate(windows):
        slot = (hi - lo) / per_day
        for k in range(per_day):
            talk = talks[talk_index % len(talks)]
            t_start = lo + slot * k
            schedule.append((talk, t_start, t_start + slot * 0.8, day_no))
            i = len(schedule) - 1
            if i < min(len(expert_authors), len(talks) // 2) and i % 2 == 0:
                speaker = expert_authors[(i // 2) % len(expert_authors)]
                speakers[i] = ("@" + speaker.username, speaker.name)
            else:
                first, last = next(speaker_pool)
                speakers[i] = (f"{first} {last}", f"{first} {last}")
            talk_index += 1

    def window_of(at: datetime) -> tuple[datetime, datetime]:
        for lo, hi in windows:
            if lo <= at <= hi:
                return lo, hi
        return min(windows, key=lambda w: min(abs((w[0] - at).total_seconds()), abs((w[1] - at).total_seconds())))

    def clamp(at: datetime, day_no: int) -> datetime:
        # Outside the day's hours: fall back to the first or last quarter of an hour of the day.
        lo, hi = windows[day_no]
        if at > hi:
            return hi - timedelta(seconds=rng.uniform(0, min(900, (hi - lo).total_seconds())))
        if at < lo:
            return lo + timedelta(seconds=rng.uniform(0, min(600, (hi - lo).total_seconds())))
        return at

    def uniform_time(day_no: int | None = None) -> tuple[datetime, int]:
        if day_no is None:
            day_no = rng.randrange(len(windows))
        lo, hi = windows[day_no]
        return lo + timedelta(seconds=rng.uniform(0, (hi - lo).total_seconds())), day_no

    def fields(i: int) -> dict[str, str]:
        talk = schedule[i][0]
        ref, _ = speakers[i]
        return {
            "s": ref, "topic": talk.topic, "topic_fr": talk.topic_fr, "tool": talk.tool, "what": talk.what,
            "what_fr": talk.what_fr, "finding": talk.finding, "finding_fr": talk.finding_fr,
            "method": talk.method, "quote": talk.quote, "takeaway": talk.takeaway, "slide": talk.slide,
        }

    def tagged(extra_tags: Sequence[str] = ()) -> str:
        text = _tag_variant(tag, rng)
        if extra_tags and rng.random() < _TOPIC_TAG_CHANCE:
            text += " #" + rng.choice(extra_tags)
        return text

    def fill(template: str, base: Mapping[str, str], extra_tags: Sequence[str] = (), **more: str) -> str:
        values = dict(base)
        values.update(more)
        values.setdefault("tag", tagged(extra_tags))
        values.setdefault("link", _link(rng))
        values.setdefault("emoji", rng.choice(_EMOJI))
        values.setdefault("room", rng.choice(_ROOMS))
        values.setdefault("room_fr", rng.choice(_ROOMS_FR))
        text = template.format(**values)
        text = re.sub(r"\s+", " ", text).strip()
        if len(text) > 280:
            text = text[:279].rstrip() + "…"
        return text

    # ---- how many of each kind -------------------------------------------------------------------------
    shares = {
        "insight": 0.25, "slide": 0.12, "pointer": 0.07, "logistics": 0.10, "promotion": 0.07,
        "congrats": 0.08, "reply": 0.10, "link": 0.04, "retweet": 0.04,
    }
    counts = {kind: int(round(n_posts * share)) for kind, share in shares.items()}
    counts["chatter"] = n_posts - sum(counts.values())

    drafts: list[_Draft] = []

    def add(at: datetime, author: _Author, text: str, lang: str, kind: str, insight: int, **extra: Any) -> None:
        drafts.append(_Draft(at.replace(microsecond=0), author, text, lang, kind, insight, order=len(drafts), **extra))

    def talk_time(i: int, before: float = 5, after: float = 20) -> datetime:
        _, t_start, t_end, day_no = schedule[i]
        at = t_start + timedelta(minutes=before) + timedelta(
            seconds=rng.uniform(0, (t_end - t_start).total_seconds() + (after - before) * 60))
        return clamp(at, day_no)

    # Insight: experts write a larger share; some francophones write in French.
    for _ in range(counts["insight"]):
        i = rng.randrange(len(schedule))
        author = pick_person(expert_weight=6.0)
        french = author.french and rng.random() < 0.7
        template = rng.choice(_INSIGHT_FR if french else _INSIGHT_EN)
        add(talk_time(i), author, fill(template, fields(i), schedule[i][0].tags), "fr" if french else "en",
            "insight", 2)

    # Live-tweets of one slide: 3 to 5 people within a few minutes, small variations.
    remaining = counts["slide"]
    cluster_talks = list(range(len(schedule)))
    rng.shuffle(cluster_talks)
    cluster_no = 0
    while remaining > 0:
        i = cluster_talks[cluster_no % len(cluster_talks)]
        size = min(remaining, rng.randint(3, 5))
        if remaining - size in (1, 2):
            size = remaining
        t0 = talk_time(i, before=8, after=0)
        key = f"slide-{cluster_no:02d}"
        writers = rng.sample(people, size)
        templates = rng.sample(_SLIDE, size) if size <= len(_SLIDE) else [rng.choice(_SLIDE) for _ in range(size)]
        at = t0
        for author, template in zip(writers, templates, strict=True):
            add(clamp(at, schedule[i][3]), author, fill(template, fields(i), schedule[i][0].tags), "en",
                "insight", 2, slide=key)
            at += timedelta(seconds=rng.randint(15, 100))
        remaining -= size
        cluster_no += 1

    for _ in range(counts["pointer"]):
        i = rng.randrange(len(schedule))
        author = rng.choice([organiser, press]) if rng.random() < 0.35 else pick_person(expert_weight=2.0)
        french = author.french and rng.random() < 0.6
        template = rng.choice(_POINTER_FR if french else _POINTER_EN)
        if "Up next" in template or "Starting now" in template or "Ça commence" in template:
            at = clamp(schedule[i][1] - timedelta(minutes=rng.uniform(0, 12)), schedule[i][3])
        else:
            at = clamp(schedule[i][2] + timedelta(minutes=rng.uniform(0, 150)), schedule[i][3])
        add(at, author, fill(template, fields(i)), "fr" if french else "en", "pointer", 1)

    for _ in range(counts["logistics"]):
        author = organiser if rng.random() < 0.55 else pick_person()
        french = (author.french and rng.random() < 0.8) or (author is organiser and rng.random() < 0.15)
        at, day_no = uniform_time()
        later = at.astimezone(start.tzinfo) + timedelta(minutes=rng.choice((20, 30, 45)))
        clock = later.replace(minute=later.minute - later.minute % 15).strftime("%H:%M")
        i = rng.randrange(len(schedule))
        template = rng.choice(_LOGISTICS_FR if french else _LOGISTICS_EN)
        add(at, author, fill(template, fields(i), clock=clock), "fr" if french else "en", "logistics", 0)

    for _ in range(counts["promotion"]):
        author = rng.choice(sponsors) if rng.random() < 0.8 else pick_person()
        product = _PRODUCTS.get(author.username, "our platform")
        french = rng.random() < 0.15
        at, _ = uniform_time()
        template = rng.choice(_PROMOTION_FR if french else _PROMOTION)
        add(at, author, fill(template, {}, product=product, booth=str(rng.randint(3, 48))),
            "fr" if french else "en", "promotion", 0)

    for _ in range(counts["congrats"]):
        i = rng.randrange(len(schedule))
        author = pick_person(expert_weight=1.5)
        french = author.french and rng.random() < 0.75
        at = clamp(schedule[i][2] + timedelta(minutes=rng.uniform(0, 40)), schedule[i][3])
        template = rng.choice(_CONGRATS_FR if french else _CONGRATS_EN)
        add(at, author, fill(template, fields(i)), "fr" if french else "en", "congrats", 0)

    for _ in range(counts["chatter"]):
        author = pick_person()
        french = author.french and rng.random() < 0.8
        at, day_no = uniform_time()
        template = rng.choice(_CHATTER_FR if french else _CHATTER_EN)
        add(at, author, fill(template, {}, day=str(day_no + 1)), "fr" if french else "en", "chatter", 0)

    for _ in range(counts["link"]):
        author = pick_person()
        at, _ = uniform_time()
        template = rng.choice(("{link} {tag}", "{tag} {link}", "👀 {link} {tag}"))
        # X labels posts without linguistic content "zxx".
        add(at, author, fill(template, {}), "zxx", "link", 0)

    originals = list(range(len(drafts)))

    # Replies: fragments answering an earlier post, a few minutes later, within the same day.
    for _ in range(counts["reply"]):
        for _attempt in range(50):
            parent_idx = rng.choice(originals)
            parent = drafts[parent_idx]
            lo, hi = window_of(parent.at)
            at = parent.at + timedelta(seconds=rng.randint(60, 40 * 60))
            if at <= hi:
                break
        else:  # pragma: no cover - only with absurdly short windows
            continue
        author = pick_person()
        while author is parent.author:
            author = pick_person()
        french = (author.french or parent.lang == "fr") and rng.random() < 0.6
        template = rng.choice(_REPLY_FR if french else _REPLY_EN)
        text = fill(template, {}, to=parent.author.username)
        if tag.lower() not in text.lower():
            text = f"{text} {_tag_variant(tag, rng)}"
        add(at, author, text, "fr" if french else "en", "reply", 0, parent=parent_idx)

    # Native reposts of earlier posts.
    for _ in range(counts["retweet"]):
        for _attempt in range(50):
            idx = rng.choice(originals)
            original = drafts[idx]
            lo, hi = window_of(original.at)
            at = original.at + timedelta(seconds=rng.randint(120, 90 * 60))
            if at <= hi and drafts[idx].kind != "link":
                break
        else:  # pragma: no cover
            continue
        author = pick_person()
        while author is original.author:
            author = pick_person()
        text = f"RT @{original.author.username}: {original.text}"
        if len(text) > 280:
            text = text[:279].rstrip() + "…"
        add(at, author, text, original.lang, "retweet", 0, retweet_of=idx)

    # ---- ids, threading, metrics ---------------------------------------------------------------------
    order = sorted(range(len(drafts)), key=lambda k: (drafts[k].at, drafts[k].order))
    ids: dict[int, str] = {}
    last_ms, seq = None, 0
    for k in order:
        ms = int(drafts[k].at.timestamp() * 1000)
        seq = seq + 1 if ms == last_ms else 0
        last_ms = ms
        ids[k] = snowflake_id(drafts[k].at, seq)

    viral = set(rng.sample([k for k in range(len(drafts)) if drafts[k].kind in ("chatter", "congrats")],
                           k=max(1, len(drafts) // 90)))
    viral.update(rng.sample([k for k in range(len(drafts)) if drafts[k].kind == "insight"], k=1))
    posts: dict[int, Post] = {}
    for k in order:
        d = drafts[k]
        conversation = ids[k]
        in_reply_to_id = in_reply_to_user_id = None
        if d.parent is not None:
            parent_post = posts[d.parent]
            conversation = parent_post.conversation_id
            in_reply_to_id = parent_post.id
            in_reply_to_user_id = parent_post.author_id
        posts[k] = Post(
            id=ids[k],
            text=d.text,
            author_id=d.author.id,
            username=d.author.username,
            name=d.author.name,
            created_at=d.at,
            lang=d.lang,
            metrics=_metrics(d.kind, d.author, rng, k in viral),
            is_reply=d.parent is not None,
            conversation_id=conversation,
            in_reply_to_id=in_reply_to_id,
            in_reply_to_user_id=in_reply_to_user_id,
            retweet_of=ids[d.retweet_of] if d.retweet_of is not None else None,
            kind=d.kind,
            insight=d.insight,
            slide=d.slide,
        )
    # A repost carries the original's repost count as X shows it; replies bump their parent's count.
    reply_counts: dict[str, int] = {}
    for post in posts.values():
        if post.in_reply_to_id:
            reply_counts[post.in_reply_to_id] = reply_counts.get(post.in_reply_to_id, 0) + 1
    result = []
    for k in order:
        post = posts[k]
        if post.id in reply_counts:
            m = post.metrics
            post = replace(post, metrics=replace(m, reply_count=max(m.reply_count, reply_counts[post.id])))
        result.append(post)
    return result
