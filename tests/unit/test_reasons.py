"""Reasons are stored as codes and read in the reader's language; a code no version knows reads as itself."""

import pytest

from relaycast import insight, selection
from relaycast.reasons import MESSAGES, code, describe, ordinal, render, render_all

# One code of each name, with arguments where its message takes some.
SAMPLES = {name: name for name, message in MESSAGES.items() if not message.params} | {
    "expert": "expert:1.5",
    "echoed": "echoed:3",
    "repeat_author": "repeat_author:2:amina_data",
    "picked_on": "picked_on:mastodon",
    "session": "session:Keynote: lighter web frontends",
    "programme_speaker": "programme_speaker:Nils Varga",
    "speaker_author": "speaker_author:@amina_data",
}


def test_every_name_has_a_sample_and_every_scorer_rule_a_message():
    assert set(SAMPLES) == set(MESSAGES)
    assert set(insight.RULES) <= set(MESSAGES)


@pytest.mark.parametrize("reason", sorted(SAMPLES.values()))
def test_every_code_reads_in_english_and_in_french(reason):
    english, french = render(reason, "en"), render(reason, "fr")
    assert english.startswith(MESSAGES[reason.partition(":")[0]].text.split("%(")[0]) and "%(" not in english
    assert french != english and "%(" not in french  # only the proper nouns inside may be alike


def test_arguments_are_substituted_as_each_language_writes_them():
    assert render("expert:1.5") == "expert author (weight 1.5)"
    assert render("expert:1.5", "fr") == "auteur expert (poids 1,5)"
    assert render("repeat_author:2:amina_data") == "diversity: 2nd pick of @amina_data lowered"
    assert render("repeat_author:3:amina_data", "fr") == "diversité : 3e choix de @amina_data, score abaissé"
    assert render("picked_on:x", "fr") == "choisie sur X" and render("picked_on:mastodon") == "picked on Mastodon"
    # A session's title is the last argument: its own colons stay in it.
    assert render("session:Keynote: lighter web frontends") == "from the session “Keynote: lighter web frontends”"
    assert render("session:Keynote: lighter web frontends", "fr") == "de la session « Keynote: lighter web frontends »"
    # The last argument keeps its colons (a handle from a network that allows them).
    assert render(code("repeat_author", 4, "odd:handle")) == "diversity: 4th pick of @odd:handle lowered"


def test_counts_take_the_plural_of_each_language():
    assert render("echoed:1") == "echoed by 1 other author"
    assert render("echoed:2") == "echoed by 2 other authors"
    assert render("echoed:1", "fr") == "reprise par 1 autre auteur"
    assert render("echoed:2", "fr") == "reprise par 2 autres auteurs"


def test_ordinals_read_right_in_both_languages():
    assert [ordinal(n, "en") for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 111, 112)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "111th", "112th"]
    assert [ordinal(n, "fr") for n in (1, 2, 3, 11, 21)] == ["1er", "2e", "3e", "11e", "21e"]


@pytest.mark.parametrize("reason", [
    "on_programme", "on_programme:Keynote: data",  # a code a later version may write
    "echoed", "echoed:many", "echoed:1:2", "expert:heavy", "same_session:1", "repeat_author:second:amina",  # malformed
    "substantial text, expert author (weight 2)", "diversity: second pick of @x lowered",  # text stored before codes
    "",
])
def test_a_code_this_version_cannot_read_renders_as_itself(reason):
    assert render(reason, "en") == render(reason, "fr") == reason


def test_a_list_reads_in_one_line_and_older_text_as_it_is():
    assert describe(["figure", "expert:2"], "fr") == "donne un chiffre, auteur expert (poids 2)"
    assert render_all(["quote", "future:1"]) == ["quotes a speaker", "future:1"]
    assert describe("states a number, quotes a speaker", "fr") == "states a number, quotes a speaker"
    assert describe([]) == describe(None) == ""


def test_the_codes_name_the_reasons_and_the_arguments_must_fit():
    assert code("echoed", 3) == "echoed:3" and code("same_session") == "same_session"
    for wrong in (("echoed",), ("same_session", 1), ("unknown",)):
        with pytest.raises(AssertionError):
            code(*wrong)


def test_what_the_scorer_and_the_round_store_are_codes_every_reader_can_read():
    posts = ["Jane Doe: the model cut errors by 27% on the public dataset, because labels were cleaned first",
             "Congrats to the team!", "RT @bob: caching hides slow queries", "look https://t.co/x #conf"]
    scored = [selection.score_post(text=t, expert_weight=2.0) for t in posts]
    codes = [r for s in scored for r in s.reasons]
    assert "expert:2" in codes and {"speaker", "figure", "thanks", "repost", "link_only"} <= set(codes)
    assert all(r.partition(":")[0] in MESSAGES and render(r, "fr") != render(r) for r in codes)
