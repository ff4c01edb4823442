"""Insight: how much a post teaches someone who was not in the room, and the reasons that say why.

Rubric-driven rules, in English and French, meant to carry over to any conference: what a speaker said
(attribution "X: …", "X says …", quotes), figures, named methods and tools, findings, links that come with a
description; penalties for logistics, promotion, thanks, chatter, pointers that name a talk without its
content, conversation fragments, link-only posts and sensitive words. A learned part (`form_push`: a logistic
model over the rules' strengths and the post's shape, trained on other events' labelled posts by `make model`)
adds its log-odds. The organiser's experts add weight; engagement only breaks ties. Each rule has one weight and
one reason (`RULES`), so a score is the sum of the reasons shown next to it. Pure Python: word lists are matched
on tokens, not through large regexes.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from relaycast.reasons import code

# Each rule: its weight (points at full strength); its name is the reason's code (`relaycast.reasons` says it in
# the reader's language). Signals, then penalties.
RULES: dict[str, float] = {
    "substance": 3.0,  # full weight at 30 content words
    "speaker": 1.5,
    "quote": 1.0,
    "citation": 0.8,
    "figure": 1.2,
    "method": 1.0,
    "explains": 0.6,
    "finding": 0.4,  # per claim word, up to 3
    "described_link": 0.5,
    "scholarly_link": 0.5,
    "expert": 1.5,  # per unit of the organiser's weight
    "logistics": -2.0,
    "promotion": -2.0,
    "thanks": -2.0,  # half when the post has more to say
    "chatter": -1.5,  # half when the post has more to say
    "praise": -1.5,  # a third when the post has more to say
    "announce": -1.0,
    "pointer": -0.8,
    "first_person": -0.6,  # per first-person word, up to 2
    "reply": -3.0,
    "repost": -2.0,
    "link_only": -3.0,
    "short": -1.5,
    "tags": -1.0,
    "sensitive": -3.0,
    # The learned part (`form_push`), one point per unit of its log-odds; one code or the other by its sign.
    "form": 1.0,
    "form_low": 1.0,
}
FORM_SHOWN = 0.5  # a smaller push from the learned part is not worth a reason
FULL_WORDS = 30  # content words for the full substance weight
SUBSTANTIAL_WORDS = 18  # from this length the substance reason is worth saying
THIN_WORDS = 20  # below this a social post has nothing else to offer


#: The rules that say a post carries something (its form: a claim, a figure, a method, a quote, a source).
SUBSTANCE_RULES = frozenset({"substance", "speaker", "quote", "citation", "figure", "method", "explains", "finding",
                             "described_link", "scholarly_link"})


@dataclass(frozen=True)
class Scored:
    score: float  # what orders posts: quality, plus the expert's weight and engagement
    reasons: tuple[str, ...]  # codes, rendered by `relaycast.reasons`
    quality: float = 0.0  # the post alone: no author weight, no engagement
    substantive: bool = False  # at least one substance reason, and not a copy of another's post

    def eligible(self, floor: float) -> bool:
        """Worth a relay's name: something of substance, and enough of it (`floor`: the event's `quality_floor`);
        who wrote it and how liked it is only orders the eligible."""
        return self.substantive and self.quality >= floor


class Lexicon:
    """Words and phrases of one rule ("congrat*" is a prefix), matched on a post's lower-case tokens."""

    def __init__(self, *terms: str) -> None:
        self.words: set[str] = set()
        self.phrases: dict[str, list[tuple[str, ...]]] = {}
        prefixes = []
        for term in terms:
            parts = tuple(p for word in term.lower().replace("’", "'").split() for p in _elided(word))
            if len(parts) > 1:
                self.phrases.setdefault(parts[0], []).append(parts)
            elif term.endswith("*"):
                prefixes.append(parts[0][:-1])
            else:
                self.words.add(parts[0])
        self.prefixes = tuple(prefixes)
        self.prefix_re = re.compile(r"(?:^| )(?:" + "|".join(map(re.escape, prefixes)) + ")") if prefixes else None

    def spans(self, tokens: list[str], vocabulary: set[str]) -> list[tuple[int, int]]:
        """(start, end) of every match; `vocabulary` is set(tokens), so most rules cost one set operation."""
        found = []
        if vocabulary & self.words or self.prefixes:
            prefixes = self.prefixes or ("\0",)
            found += [(i, i + 1) for i, t in enumerate(tokens) if t in self.words or t.startswith(prefixes)]
        for first in vocabulary & self.phrases.keys():
            for i, t in enumerate(tokens):
                if t == first:
                    found += [(i, i + len(p)) for p in self.phrases[first] if tuple(tokens[i : i + len(p)]) == p]
        return found

    def hits(self, tokens: list[str], vocabulary: set[str]) -> bool:
        if vocabulary & self.words:
            return True
        if self.prefix_re and self.prefix_re.search(" ".join(tokens)):
            return True
        return bool(vocabulary & self.phrases.keys()) and bool(self.spans(tokens, vocabulary))


def _each(*groups: Iterable[str]) -> list[str]:
    """Every phrase made of one term of each group: _each(["to"], ["predict", "detect"])."""
    phrases = [""]
    for group in groups:
        phrases = [f"{p} {g}".strip() for p in phrases for g in group]
    return phrases


# --- text ------------------------------------------------------------------------------------------------
SPACES = re.compile(r"\s+")
URL = re.compile(r"https?://\S+|\bpic\.twitter\.com/\S+", re.IGNORECASE)
MENTION = re.compile(r"(?<![\w@])@\w+")
HASHTAG = re.compile(r"(?<![\w&#])#\w+")
WORD = re.compile(r"[^\W\d_](?:[\w'’-]*\w)?")
TOKEN = re.compile(r"@\w+|[^\W\d_](?:[\w'’-]*\w)?")
ELISION = re.compile(r"^(l|d|j|qu|n|s|c|m|t|jusqu|lorsqu|puisqu)['’](?=\w)", re.IGNORECASE)  # French l', d', j'…


def _elided(word: str) -> list[str]:
    """French elisions split off, as readers parse them: "l'étude" → "l'", "étude"."""
    m = ELISION.match(word)
    return [word[: m.end()], word[m.end() :]] if m else [word]


CONVERSATION = re.compile(r"^\s*(?:@\w+[\s,]*){2,}(?!:)")  # "@a @b yes!" answers someone
REPOST = re.compile(r"^\s*RT[\s:]+@?\w+")  # "RT @x: …", and the older hand-made "RT x: …"
INITIALS = re.compile(r"\b[A-Z]\.(?:\s?[A-Z]\.)+")  # "T.I." is not the pronoun I

# --- what a speaker said ----------------------------------------------------------------------------------
_NAME = r"(?:@\w+|[A-Z][\w'’.-]+(?:\s+(?:de|van|von|da|di|le|la)?\s*[A-Z][\w'’-]+){0,2}|[A-Z]{2,4})"
# "AV: …", "Sarah Teichmann: …", "@speaker: …" at the start, possibly after "Now:".
ATTRIBUTION = re.compile(r"^(?:\W*(?:now|next|just now|maintenant)\s*:?\s*)?\W*" + _NAME + r"\s?:\s*(?=\S)")
# "Key slide from Jane Doe: …", "Notes from @speaker's talk: …": a short heading that names its source.
SOURCED_HEADING = re.compile(
    r"^\W*(?:[^\s:]+\s+){0,5}?(?:from|by|of|de|du|par|chez)\s+(?:@\w+|[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)?)[^\s:]*"
    r"(?:\s+[^\s:]+){0,2}\s?:\s*(?=\S)"
)
# "… – @speaker" or "… — Jane Doe" at the end.
TRAILING_NAME = re.compile(r"(?:^|\s)[-–—~]\s*(?:@\w+|[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){0,2})\W*$")
# Headings that are not speakers: "Reminder: …", "Room: …", "Wow: …".
NOT_SPEAKERS = {
    "reminder", "update", "rappel", "info", "note", "psa", "today", "tonight", "tomorrow", "aujourd'hui",
    "demain", "room", "salle", "venue", "lieu", "poster", "paper", "code", "data", "slide", "slides", "talk",
    "video", "vidéo", "link", "lien", "photo", "pic", "live", "breaking", "thread", "rt", "q", "a", "question",
    "answer", "réponse", "wifi", "lunch", "déjeuner", "dinner", "coffee", "café", "agenda", "programme",
    "program", "schedule", "where", "when", "quand", "où", "wow", "whoa", "lol", "ok", "yes", "no", "oui",
    "non", "bon", "bref", "so", "also", "and", "but", "et", "mais", "alors", "hello", "hi", "bonjour",
}
NOT_NAMES = {
    "it", "this", "that", "the", "these", "those", "there", "here", "which", "what", "who", "i", "you", "we",
    "ce", "cela", "ça", "qui", "on", "il", "a", "an", "my", "our", "your", "le", "la", "les", "un", "une",
    "first", "next", "then", "now", "today", "still", "just", "also",  # "First time talking about …"
}
# A speaker (a name or @handle just before) says, shows, argues… something.
SAYS = Lexicon(
    "says", "said", "shows", "showed", "argues", "argued", "notes", "noted", "points out", "pointing out",
    "explains", "explained", "explaining", "claims", "claimed", "reports", "reported", "describes", "described",
    "describing", "highlights", "highlighting", "demonstrates", "suggests", "suggested", "thinks", "reveals",
    "revealed", "tells", "telling", "told", "stresses", "emphasises", "emphasizes", "recommends", "warns",
    "concludes", "concluded", "makes the case", "making the case", "reminds us", "walks us through",
    "walking us through", "on how", "on why", "on what", "talking about", "talks about", "going through",
    "goes through", "discussing", "discusses", "showing", "arguing",
    "dit", "déclare", "explique", "montre", "affirme", "souligne", "rappelle", "estime", "insiste", "conclut", "démontre",
    "révèle", "prévient", "recommande", "observe", "avance", "défend", "constate", "raconte", "nous explique",
    "nous montre", "parle de", "parle du", "parle des",
)
SAID_BY = Lexicon("says", "said", "according to", "dit", "a dit", "selon", "d'après", "pour reprendre")  # … then a name
QUOTE = re.compile(
    r"“([^”]{15,}?)”|\"([^\"]{15,}?)\"|«\s*([^»]{15,}?)\s*»|[„‚]([^“‘]{15,}?)[“‘]"
    r"|(?:^|[\s(])[‘']([^'‘’]{15,}?)[’'](?=$|[\s.,;:!?)@#])"
)
TITLE_BEFORE = re.compile(
    r"\b(?:poster|paper|talk|titled|entitled|article|study|preprint|keynote|tutorial|workshop|session|book|"
    r"in|on|intitulée?|affiche|étude|exposé|atelier|tutoriel|séminaire|livre|conférence|présentation|session)\W*$",
    re.IGNORECASE,
)
CITATION = re.compile(r"\b[A-Z][\w'’-]+(?:\s+and\s+[A-Z][\w'’-]+)?\s+et\s+al\b|\bdoi:\s*10\.\d+", re.IGNORECASE)

# --- substance --------------------------------------------------------------------------------------------
# Numbers that are not figures: times, dates, years, thread counters, poster or room labels.
TIME_OR_DATE = re.compile(
    r"\b\d{1,2}(?::|h|\.)\d{2}\b|\b\d{1,2}\s?(?:am|pm|h)\b|\b(?:19|20)\d{2}\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"
    r"|\b\d+/(?:\d+|x|n)\b|\b[A-Z]{1,2}-?\d{1,3}\b",
    re.IGNORECASE,
)
NUMBER = re.compile(
    r"(?<![\w#@/.,:-])[<>≈~]?[$€£]?(?P<value>\d+(?:[.,]\d+)*)"
    r"(?:\s?(?P<unit>%|x|×|-?fold|k|m|bn|[kmgtp]b|ms|µs|[kmg]?w|bp|[km]bp|°c|€|\$|percent|pour ?cent|times|fois|"
    r"millions?|billions?|milliards?|thousands?|mille|hundreds?|centaines?))?(?![\w:/])",
    re.IGNORECASE,
)
DIGIT = re.compile(r"\d")
RATIO = re.compile(r"\b\d+\s+(?:in|out of|of every|sur|pour)\s+\d+\b", re.IGNORECASE)  # "1 in 4"
NOT_FIGURE_BEFORE = {
    "booth", "stand", "room", "salle", "hall", "poster", "board", "table", "gate", "level", "floor", "étage",
    "track", "session", "day", "jour", "slot", "no", "no.", "n°", "nr", "number", "bus", "line", "ligne",
    "july", "june", "may", "august", "september", "october", "november", "december", "january", "february",
    "march", "april", "juillet", "juin", "mai", "août", "septembre", "octobre", "novembre", "décembre",
    "janvier", "février", "mars", "avril", "version", "v", "step", "part", "partie", "chapter", "page",
}
METHOD = Lexicon(
    "method", "methods", "approach", "algorithm", "algorithms", "model", "models", "framework", "tool", "tools",
    "toolkit", "package", "library", "pipeline", "database", "dataset", "datasets", "benchmark", "benchmarking",
    "platform", "software", "workflow", "workflows", "classifier", "regression", "clustering", "embedding",
    "inference", "simulation", "prediction", "predictions", "predictive", "metric", "metrics", "protocol",
    "architecture", "neural network", "deep learning", "machine learning", "statistical", "optimisation",
    "optimization", "sampling", "index", "api", "standard", "format", "ontology", "plugin", "compiler",
    "méthode", "méthodes", "approche", "algorithme", "modèle", "modèles", "outil", "outils", "bibliothèque",
    "jeu de données", "base de données", "plateforme", "logiciel", "chaîne de traitement", "apprentissage",
    "prédiction", "métrique", "protocole", "échantillonnage", "norme",
)
FINDING = Lexicon(
    "show", "shows", "showed", "shown", "find", "finds", "found", "reveal", "reveals", "revealed", "improve",
    "improves", "improved", "outperform", "outperforms", "outperformed", "reduce", "reduces", "reduced",
    "increase", "increases", "increased", "decrease", "decreases", "predict", "predicts", "detect", "detects",
    "detected", "identify", "identifies", "identified", "capture", "captures", "enable", "enables", "allow",
    "allows", "require", "requires", "cause", "causes", "correlate", "correlates", "correlated", "depend",
    "depends", "lack", "lacks", "fail", "fails", "failed", "works", "matter", "matters", "lead to", "leads to",
    "driven by", "associated with", "compared to", "compared with", "versus", "vs", "than", "key", "obstacle",
    "challenge", "challenges", "problem", "bottleneck", "tradeoff", "trade-off", "evidence", "significant",
    "significantly", "accurate", "accuracy", "faster", "slower", "better", "worse", "more", "less", "fewer",
    "most", "least", "because", "therefore", "so that", "instead of", "rather than", "without", "need", "needs",
    "must", "should", "cannot", "can't", "don't", "isn't", "aren't", "never", "always", "only", "first",
    "montre", "montrent", "montré", "révèle", "révèlent", "révélé", "améliore", "améliorent", "amélioré",
    "dépasse", "dépassent", "réduit", "réduisent", "augmente", "augmentent", "augmenté", "diminue", "diminuent",
    "prédit", "prédisent", "détecte", "détectent", "détecté", "identifie", "identifient", "identifié", "permet",
    "permettent", "nécessite", "nécessitent", "dépend", "dépendent", "manque", "manquent", "échoue", "échouent",
    "fonctionne", "fonctionnent", "trouvé", "découvert", "constaté", "mesuré", "conduit à", "associé à",
    "par rapport à", "que", "plus", "moins", "clé", "défi", "enjeu", "parce que", "donc", "sans", "plutôt que",
    "au lieu de", "faut", "doit", "doivent", "jamais", "toujours", "seulement",
)
_TOOL_NOUNS = (
    "tool", "method", "way", "approach", "platform", "framework", "format", "model", "standard", "library",
    "database", "replacement", "alternative", "outil", "méthode", "moyen", "approche", "plateforme", "modèle",
    "norme", "bibliothèque", "base", "remplaçant",
)
# "which lets …", "to predict …", "qui permet …": says what something is for.
EXPLAINS = Lexicon(
    *_each(("which", "that", "qui"), ("lets", "allows", "helps", "enables", "makes", "turns", "converts",
                                      "predicts", "detects", "permet", "permettent", "aide", "transforme",
                                      "prédit", "détecte")),
    *_each(("to", "pour", "afin de"), ("predict", "detect", "identify", "measure", "compare", "convert",
                                        "reduce", "improve", "prédire", "détecter", "identifier", "mesurer",
                                        "comparer", "convertir", "réduire", "améliorer")),
)
IS_A = {"is", "are", "be", "was", "were", "est", "sont", "sera", "était"}
# "OpenEBench supports …", "@tool integrates …": a named thing, then what it does.
DOES = Lexicon(
    "supports", "provides", "offers", "handles", "integrates", "uses", "combines", "builds on", "replaces",
    "runs", "scales", "stores", "indexes", "compresses", "generates", "computes", "learns", "infers", "aligns",
    "predicts", "detects", "identifies", "captures", "measures", "converts", "automates", "tracks", "collects",
    "fournit", "propose", "gère", "intègre", "utilise", "combine", "remplace", "génère", "calcule", "apprend",
    "prédit", "détecte", "identifie", "mesure", "convertit", "automatise", "collecte",
)
DASH_DEFINITION = re.compile(r"\s[-–—=]\s+(?:a|an|un|une)\s+\w", re.IGNORECASE)  # "Dockta - a lightweight …"
PAPER_LINK = Lexicon(
    "paper", "preprint", "slides", "code", "github", "repo", "repository", "article", "doi", "arxiv", "biorxiv",
    "zenodo", "publication", "prépublication", "diapos", "diapositives", "transparents", "dépôt",
)
SCHOLARLY_HOST = re.compile(
    r"https?://(?:www\.)?(?:doi\.org|dx\.doi\.org|arxiv\.org|\w*rxiv\.org|github\.com|gitlab\.com|zenodo\.org|"
    r"hal\.science|hal\.archives-ouvertes\.fr|figshare\.com|osf\.io|pubmed\.ncbi|ncbi\.nlm\.nih\.gov|"
    r"academic\.oup\.com|nature\.com|sciencedirect\.com|springer\.com|plos\.org|f1000research\.com|"
    r"elifesciences\.org|acm\.org|ieee\.org|speakerdeck\.com|slideshare\.net)\b",
    re.IGNORECASE,
)

# --- chatter ----------------------------------------------------------------------------------------------
LOGISTICS = Lexicon(
    "coffee", "lunch", "breakfast", "dinner", "break", "wifi", "wi-fi", "badge", "badges", "registration",
    "shuttle", "reception", "venue", "cloakroom", "parking", "hotel", "flight", "luggage", "room change",
    "moved to", "in room", "starts at", "starting at", "kicks off at", "doors open", "on my way", "heading to", "en route",
    "arrived", "landed", "travel", *_each(("see you",), ("there", "at", "in", "soon", "tomorrow", "all")),
    "café", "déjeuner", "petit-déjeuner", "dîner", "pause", "inscription", "inscriptions", "navette", "accueil",
    "vestiaire", "hôtel", "en salle", "changement de salle", "rendez-vous", "à demain", "en route pour", "arrivé",
    "arrivée", "je serai", "on se retrouve",
)
PROMOTION = Lexicon(
    "booth", "stand", "visit us", "visit our", "stop by", "come by", "drop by", "swing by", "come and", "come say",
    "say hi", "join us", "sign up", "register now", "discount", "promo", "giveaway", "free", "win", "t-shirt",
    "t-shirts", "swag", "sponsor", "sponsoring", "sponsored", "hiring", "job", "jobs", "positions",
    "open position", "vacancy", "how to apply", "check out our", "our new product", "demo at", "don't miss",
    "do not miss", "learn more", "find out more", "read more",
    *_each(("apply",), ("now", "here", "by", "today", "online")),
    *_each(("looking for", "looking for a", "looking for an"),
           ("postdoc", "postdocs", "post-doc", "phd", "student", "students", "engineer", "engineers", "developer",
            "developers", "candidate", "candidates", "intern", "interns")),
    "notre stand", "venez", "passez", "rejoignez-nous", "inscrivez-vous", "offre", "recrute", "recrutons",
    "poste", "postes", "gagner", "goodies", "ne manquez pas", "en savoir plus", "offre de thèse",
    "offre d'emploi", "candidatez",
)
THANKS = Lexicon(
    "congrat*", "well deserved", "award", "awards", "awarded", "prize", "proud", "thank", "thanks", "thank you",
    "grateful", "kudos", "bravo", "félicitations", "merci", "fier", "fière", "fiers", "récompense", "prix",
)
CHATTER = Lexicon(
    "excited", "looking forward", "can't wait", "cannot wait", "so happy", "happy to", "glad to", "great time",
    "fun", "enjoy", "enjoyed", "enjoying", "selfie", "the party", "a party", "party tonight", "birthday", "drinks",
    "beer", "friends",
    "hello from", "here i come", "lol", "haha", "wow", "yay", "omg", "amazing", "awesome", "love", "what a day",
    "first day", "last day", "so many talks", "missed", "miss", "wish", "raté", "manqué", "souhaite", "souhaitons", "hâte", "ravi", "ravie", "ravis",
    "trop bien", "génial", "super ambiance", "copains", "apéro", "soirée", "à bientôt", "heureux", "heureuse",
)
PRAISE = Lexicon(
    "great", "nice", "excellent", "interesting", "fascinating", "awesome", "amazing", "brilliant", "fantastic",
    "inspiring", "cool", "wonderful", "superb", "good", "fab", "super", "très bonne", "excellente",
    "passionnant", "passionnante", "intéressant", "intéressante", "belle", "beau", "superbe", "bonne",
)
EVENT_WORD = Lexicon(
    "talk", "talks", "keynote", "session", "presentation", "panel", "poster", "workshop", "tutorial", "demo",
    "overview of", "introduction to", "update on", *_each(("interesting", "great", "good", "nice"), ("to hear",
                                                                                              "to see")),
    "conférence de", "conférence d'", "conférence sur", "intervention", "présentation", "table ronde", "atelier", "exposé", "démo", "tour d'horizon",
    "introduction à", "point sur",
)
BY_SPEAKER = re.compile(r"\b(?:by|from|par|de la part de)\s+(?:@\w+|[A-Z][\w'’-]+\s+[A-Z][\w'’-]+)")
ANNOUNCE = Lexicon(
    "my talk", "my poster", "our poster", "my presentation", "i will present", "i'll present",
    "i will be presenting", "i'm presenting", "i am presenting", "we will present", "i will be talking",
    "i'll be talking", "i will be speaking", "come to my", "come listen", "come hear", "up next", "next up",
    "will present", "will be presenting", "will talk", "will be talking", "will speak", "if you missed",
    *_each(("present", "presents", "presented"), ("a", "our", "his", "her", "their"), ("poster",)),
    *_each(("you can",), ("view", "watch", "see", "find"), ("it",)), "here's", "here is", "voici",
    "starting now", "starts now", "is starting", "about to start", "kicking off", "kicked off", "coming up",
    "later today", "tomorrow", "demain", "lance", "lancent", "ma présentation", "mon poster", "mon exposé", "je présenterai", "je présente",
    "nous présenterons", "venez écouter", "ça commence", "c'est parti", "tout à l'heure",
)
FIRST_PERSON = Lexicon(
    "i", "i'm", "i've", "i'll", "my", "me", "we", "we're", "we've", "we'll", "our", "myself",
    "je", "j'", "moi", "mon", "ma", "mes", "nous", "notre", "nos",
)
SENSITIVE = Lexicon(
    "nsfw", "porn*", "fuck*", "shit*", "bitch*", "wtf", "stfu", "nazi*", "rape*", "suicide", "putain", "merde",
    "connard*", "salope*", "nique*",
)

# Inputs of the learned part only: reactions and reports, two forms found at every kind of event.
SYMPATHY = Lexicon(
    "pray", "praying", "prayers", "prayer", "condolences", "rip", "god bless", "bless", "hearts go out",
    "heart goes out", "my heart", "sending love", "sad", "so sad", "saddened", "terrible", "horrible", "tragic",
    "heartbreaking", "oh my god", "prie", "prient", "prier", "prions", "prière", "prières", "pensées",
    "condoléances", "triste", "attristé*", "tristesse", "tragique", "mon dieu", "courage à", "soutien à",
)
REPORT = Lexicon(
    "kill*", "dead", "death*", "died", "injur*", "wounded", "missing", "evacuat*", "damag*", "destroy*",
    "collapsed", "closed", "confirm*", "reported", "according to", "official*", "authorities", "police", "update",
    "updates", "latest", "breaking", "magnitude", "struck", "affected", "donat*", "relief", "shelter*", "rescu*",
    "volunteers", "hotline", "info", "information",
    "tué*", "mort", "morts", "décès", "bilan", "blessés", "blessé", "disparus", "évacu*", "dégâts", "dommages",
    "détrui*", "effondré*", "fermé", "fermée", "confirm*", "selon", "autorités", "mise à jour", "dernières",
    "urgent", "touchés", "dons", "secours", "abri*", "sauvet*", "bénévoles", "informations",
)
VIA = re.compile(r"\bvia\b|\(@\w+\)", re.IGNORECASE)

def clean(text: str) -> str:
    """Entities decoded and white space collapsed (feeds carry "&amp;")."""
    return SPACES.sub(" ", html.unescape(text)).strip()


def content_words(text: str) -> list[str]:
    """The words a reader reads: no links, mentions or hashtags, lower case."""
    bare = HASHTAG.sub(" ", MENTION.sub(" ", URL.sub(" ", clean(text))))
    return [w.lower() for w in WORD.findall(bare)]


def tokens_of(text: str) -> list[str]:
    """Words and @handles as written; French elisions split off ("l'étude" → "l'", "étude")."""
    return [part for token in TOKEN.findall(text) for part in _elided(token)]


def figures(bare: str) -> list[str]:
    """Numbers that carry a quantity: with a unit or percent, or of two digits or more; not labels or times."""
    if not DIGIT.search(bare):
        return []
    found = []
    rest = TIME_OR_DATE.sub(" ", bare)
    for m in NUMBER.finditer(rest):
        before = rest[: m.start()].split()[-1:]
        if before and before[0].lower().strip("(,") in NOT_FIGURE_BEFORE:
            continue
        value = m.group("value")
        if m.group("unit") or len(re.sub(r"\D", "", value)) >= 2 or "." in value:
            found.append(m.group(0).strip())
    return found + RATIO.findall(rest)


def _is_name(token: str) -> bool:
    return token.startswith("@") or (token[0].isupper() and token.lower() not in NOT_NAMES)


def _says(cased: list[str], lower: list[str], vocabulary: set[str]) -> bool:
    """A name or @handle right before (one word may sit between) a verb of speech, or "according to" + name."""
    for start, _ in SAYS.spans(lower, vocabulary):
        if any(_is_name(cased[i]) for i in range(max(0, start - 2), start)):
            return True
    return any(end < len(cased) and _is_name(cased[end]) for _, end in SAID_BY.spans(lower, vocabulary))


def _spoken(text: str) -> bool:
    """A quoted sentence is what someone said; a short or Title Case phrase, or one right after "poster",
    "paper", "titled"…, is the name of a talk, paper or tool."""
    for m in QUOTE.finditer(text):
        words = WORD.findall(next(g for g in m.groups() if g))
        if len(words) < 4 or sum(w[0].isupper() for w in words) / len(words) >= 0.5:
            continue
        if not TITLE_BEFORE.search(text[max(0, m.start() - 40) : m.start()]):
            return True
    return False


def _technical(cased: list[str]) -> int:
    """Named things: CamelCase or mixed case (eADAGE, omniCLIP), letters with digits (GATK4), acronyms, compounds."""
    count = 0
    for t in cased:
        if len(t) < 2 or t[0] == "@":
            continue
        if DIGIT.search(t):
            count += "-" not in t  # GATK4, BRCA1; not a label such as D-074
        elif t.isupper():
            count += len(t) <= 6
        elif t[1:].lower() != t[1:]:
            count += 1
        elif "-" in t and t.islower():
            count += all(len(p) >= 2 for p in t.split("-"))
    return count


def _explains(cased: list[str], lower: list[str], vocabulary: set[str], bare: str) -> bool:
    if EXPLAINS.hits(lower, vocabulary) or DASH_DEFINITION.search(bare):
        return True
    if any(start and _is_name(cased[start - 1]) for start, _ in DOES.spans(lower, vocabulary)):
        return True
    # "X is a lightweight tool …": a copula, then a tool noun within four words.
    return any(t in IS_A and any(w in _TOOL_NOUNS for w in lower[i + 1 : i + 6]) for i, t in enumerate(lower))


def features(*, text: str, expert_weight: float = 0.0, is_reply: bool = False, lang: str = "und") -> dict[str, float]:
    """How strongly each rule of `RULES` fires on a post (0 = not at all, 1 = full strength)."""
    text = clean(text)
    no_links = URL.sub(" ", text)
    no_tags = clean(HASHTAG.sub(" ", no_links))
    bare = clean(MENTION.sub(" ", no_tags))
    cased = tokens_of(no_tags)
    lower = [t.lower().replace("’", "'") for t in cased]
    words = [t for t in lower if not t.startswith("@")]
    vocabulary = set(words)
    n = sum(1 for t in words if not t.endswith("'"))
    links = URL.findall(text)
    thin = n < THIN_WORDS
    f: dict[str, float] = {"substance": min(n, FULL_WORDS) / FULL_WORDS}

    first = lower[0].lstrip("@") if lower else ""
    leading = bool(ATTRIBUTION.match(no_tags) or SOURCED_HEADING.match(no_tags)) and first not in NOT_SPEAKERS
    speech = _spoken(text)
    has_figures = bool(figures(bare))
    findings = len(FINDING.spans(words, vocabulary))
    f["speaker"] = float(leading or _says(cased, lower, set(lower)) or bool(TRAILING_NAME.search(no_tags)))
    f["quote"] = float(speech)
    f["citation"] = float(bool(CITATION.search(bare)))
    f["figure"] = float(has_figures)
    f["method"] = float(METHOD.hits(words, vocabulary) or _technical(cased) >= 2)
    f["explains"] = float(_explains(cased, lower, set(lower), bare))
    f["finding"] = float(min(findings, 3))
    f["described_link"] = float(bool(links) and n >= 8 and PAPER_LINK.hits(words, vocabulary))
    f["scholarly_link"] = float(not f["described_link"] and n >= 5 and any(SCHOLARLY_HOST.match(u) for u in links))
    f["expert"] = max(0.0, expert_weight)

    f["logistics"] = float(LOGISTICS.hits(words, vocabulary))
    f["promotion"] = float(PROMOTION.hits(words, vocabulary))
    # Social posts teach nothing however long; short ones lose more.
    f["thanks"] = (1.0 if thin else 0.5) * THANKS.hits(words, vocabulary)
    f["chatter"] = (1.0 if thin else 0.5) * CHATTER.hits(words, vocabulary)
    talk = EVENT_WORD.hits(words, vocabulary)
    f["praise"] = (1.0 if n < 12 else 1 / 3) * (talk and PRAISE.hits(words, vocabulary))
    f["announce"] = float(ANNOUNCE.hits(words, vocabulary))
    names_talk = talk or bool(BY_SPEAKER.search(no_tags))
    said = leading or speech or findings >= 2 or has_figures or f["explains"]
    f["pointer"] = float(not f["announce"] and names_talk and not said)
    # "I", "we" in a quote or after "Speaker:" are the speaker's words, not the author's.
    f["first_person"] = 0.0
    if not f["speaker"]:
        own = [t.lower().replace("’", "'") for t in tokens_of(INITIALS.sub(" ", QUOTE.sub(" ", bare)))]
        f["first_person"] = float(min(len(FIRST_PERSON.spans(own, set(own))), 2))
    f["reply"] = float(is_reply or bool(CONVERSATION.match(text)))
    f["repost"] = float(bool(REPOST.match(text)))
    f["link_only"] = float(n < 4 and (bool(links) or lang == "zxx"))
    f["short"] = float(n < 4 and not f["link_only"])
    tags = len(MENTION.findall(text)) + len(HASHTAG.findall(text))
    f["tags"] = float(n < 12 and tags / (len(text.split()) or 1) > 0.5)
    f["sensitive"] = float(SENSITIVE.hits(words, vocabulary))
    return f


# --- the learned part ---------------------------------------------------------------------------------------
MODEL_FILE = Path(__file__).with_name("data") / "insight_form.json"


def form_inputs(text: str, strengths: dict[str, float]) -> dict[str, float]:
    """What the learned part reads: the rules' strengths (`features`, without the organiser's weight) and the
    post's shape. Nothing names a field or a language's vocabulary, so it carries to events it never saw."""
    text = clean(text)
    no_links = URL.sub(" ", text)
    words = content_words(no_links)
    tokens = [t.lower() for t in tokens_of(no_links)]
    vocabulary = set(tokens)
    spaced = len(text.split()) or 1
    hashtags = len(HASHTAG.findall(text))
    inputs = {name: value for name, value in strengths.items() if name != "expert" and value}
    inputs.update({
        "length": math.log1p(len(words)),
        "links": min(2, len(URL.findall(text))),
        "hashtags": min(4, hashtags),
        "hashtag_share": hashtags / spaced,
        "mentions": min(4, len(MENTION.findall(text))),
        "question": float("?" in no_links),
        "exclamation": float("!" in no_links),
        "colon": float(":" in no_links),
        "digits": float(bool(DIGIT.search(no_links))),
        "capitals": sum(w[0].isupper() for w in WORD.findall(no_links)) / (len(words) or 1),
        "sympathy": float(SYMPATHY.hits(tokens, vocabulary)),
        "report": float(min(3, len(REPORT.spans(tokens, vocabulary)))),
        "via": float(bool(VIA.search(text))),
    })
    return {name: value for name, value in inputs.items() if value}


@dataclass(frozen=True)
class FormModel:
    """A logistic model's intercept and weights per input (`form_inputs`), as `make model` wrote them."""

    intercept: float
    weights: dict[str, float]

    def log_odds(self, inputs: dict[str, float]) -> float:
        return self.intercept + sum(self.weights.get(name, 0.0) * value for name, value in inputs.items())


@cache
def form_model() -> FormModel:
    """The shipped weights, read once per process (the first score)."""
    shipped = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    return FormModel(intercept=shipped["intercept"], weights=shipped["weights"])


def form_push(text: str, strengths: dict[str, float], model: FormModel | None = None) -> float:
    """The learned part's say, in quality points: positive when the post reads like other events' informative
    posts, negative when it reads like their chatter (`model`: another than the shipped one, as benchmarks train)."""
    return (model or form_model()).log_odds(form_inputs(text, strengths))

def score_post(
    *,
    text: str,
    author: str = "",
    expert_weight: float = 0.0,
    likes: int = 0,
    reposts: int = 0,
    replies: int = 0,
    is_reply: bool = False,
    lang: str = "und",
    rules: dict[str, float] | None = None,
    model: FormModel | None = None,
) -> Scored:
    """An insight score (about -8 to 12; chatter ends below 2) with the reasons that made it (codes: a rule's
    name, and `expert:<weight>`).

    `author` is accepted for the callers' convenience: the organiser's judgement of an author reaches the
    score through `expert_weight` only."""
    rules = rules or RULES
    quality, bonus = 0.0, 0.0
    reasons = []
    substantive = False
    strengths = features(text=text, expert_weight=expert_weight, is_reply=is_reply, lang=lang)
    for name, strength in strengths.items():
        weight = rules[name]
        if not strength or not weight:
            continue
        if name == "expert":
            bonus += weight * strength
            reasons.append(code("expert", f"{expert_weight:g}"))
            continue
        quality += weight * strength
        if name != "substance" or strength * FULL_WORDS >= SUBSTANTIAL_WORDS:
            reasons.append(name)
            substantive = substantive or (name in SUBSTANCE_RULES and weight > 0)
    # A hand-made repost ("RT @x: …") carries another author's substance: the original is the one to pick.
    substantive = substantive and not strengths["repost"]
    push = form_push(text, strengths, model)
    name = "form" if push > 0 else "form_low"
    quality += rules[name] * push
    if rules[name] and abs(push) >= FORM_SHOWN:
        reasons.append(name)
    # Engagement breaks ties only: at most half a point, whatever the likes.
    bonus += min(0.5, math.log1p(max(0, likes) + 2 * max(0, reposts) + max(0, replies)) * 0.08)
    return Scored(score=round(quality + bonus, 3), reasons=tuple(reasons), quality=round(quality, 3),
                  substantive=substantive)
