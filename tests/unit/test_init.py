"""`relaycast init`: the event file from flags or from a person's answers on stdin, checked as `relaycast check`
checks it; a wrong answer asked again with its reason, or named with its flag; nothing written on a refusal."""

import io

from relaycast.config import load_event_config
from relaycast_local.cli import main

FLAGS = ["--name", "X Summit 2027", "--hashtag", "#X27", "--start", "2027-03-10T09:00", "--end", "2027-03-11T18:00",
         "--timezone", "Europe/Paris", "--networks", "x,mastodon"]


def test_the_issues_own_command_writes_a_file_relaycast_check_accepts(tmp_path, capsys):
    out = tmp_path / "events" / "x27.yaml"
    assert main(["init", "--yes", *FLAGS, "--out", str(out)]) == 0
    config = load_event_config(out)
    assert (config.name, config.slug, config.hashtags, config.timezone) == ("X Summit 2027", "x-summit-2027", ["X27"], "Europe/Paris")
    assert config.networks == ["x", "mastodon"] and config.mastodon_source == "mastodon.social"  # the defaults
    assert (config.mode("x"), config.mode("mastodon"), config.cap_per_relay, config.languages) == ("approve-each", "approve-each", 8, ["en"])
    said = capsys.readouterr().out
    assert f"wrote {out}" in said and "placeholder" in said  # the sender is to be replaced before a deploy
    assert main(["check", str(out)]) == 0


def test_a_person_answers_on_stdin_and_a_wrong_answer_is_asked_again_with_its_reason(tmp_path):
    from relaycast_local.init import QUESTIONS, init

    answers = [
        "Open Data Summit",  # name
        "",  # slug: the default, open-data-summit
        "#ODS27, #OpenData",  # hashtags
        "Mars/Olympus", "Europe/Paris",  # a time zone nobody knows: asked again at once
        "2027-03-10T09:00", "2027-03-09T18:00",  # start, and an end before it: asked again once the file is checked
        "x, bluesky, linkedin",  # networks
        "auto", "approve-each",  # auto on X: refused with X's rule, asked again
        "", "share-link",  # bluesky's default, linkedin share-link
        "80", "3",  # a cap above 50: asked again
        "@amina_data:2, @jlefevre",
        "events@ods.example",
        "en, fr",
        "2027-03-11T18:00",  # the end, asked again with the check's reason
    ]
    stdout = io.StringIO()
    out = tmp_path / "ods.yaml"
    assert init({}, out=out, yes=False, force=False, stdin=io.StringIO("\n".join(answers) + "\n"), stdout=stdout) == 0
    config = load_event_config(out)
    assert (config.slug, config.hashtags, config.timezone, config.networks) == (
        "open-data-summit", ["ODS27", "OpenData"], "Europe/Paris", ["x", "bluesky", "linkedin"])
    assert (config.mode("x"), config.mode("bluesky"), config.mode("linkedin")) == ("approve-each", "approve-each", "share-link")
    assert config.end_utc > config.start_utc and config.cap_per_relay == 3 and config.languages == ["en", "fr"]
    assert [(e.handle, e.weight) for e in config.experts] == [("amina_data", 2.0), ("jlefevre", 1.0)]
    said = stdout.getvalue()
    assert "a whole number of posts, from 1 to 50" in said  # the cap, at once
    assert "end is not after start" in said and "X's rules forbid automated reposting" in said  # from the check
    assert "'Mars/Olympus' is not an IANA time zone" in said
    assert len(QUESTIONS) > 10 and "Time zone of the event (IANA name) [UTC]: " in said  # defaults are shown


def test_without_a_person_a_missing_or_wrong_answer_is_named_with_its_flag_and_nothing_is_written(tmp_path, capsys):
    out = tmp_path / "x.yaml"
    assert main(["init", "--yes", "--name", "Summit", "--out", str(out)]) == 2
    said = capsys.readouterr().err
    assert "--hashtags: needed" in said and "--start: needed" in said and not out.exists()
    assert main(["init", "--yes", *FLAGS, "--mode-x", "auto", "--out", str(out)]) == 2
    assert "--mode-x:" in capsys.readouterr().err and not out.exists()
    assert main(["init", "--yes", *FLAGS, "--cap-per-relay", "many", "--out", str(out)]) == 2
    assert "--cap-per-relay: a whole number" in capsys.readouterr().err and not out.exists()


def test_an_existing_file_is_kept_unless_forced(tmp_path, capsys):
    out = tmp_path / "x27.yaml"
    out.write_text("mine\n")
    assert main(["init", "--yes", *FLAGS, "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == "mine\n"
    assert main(["init", "--yes", *FLAGS, "--out", str(out), "--force"]) == 0
    assert load_event_config(out).slug == "x-summit-2027"


def test_the_slug_default_is_made_from_the_name_and_a_short_one_is_named(tmp_path, capsys):
    out = tmp_path / "e.yaml"
    assert main(["init", "--yes", *FLAGS[2:], "--name", "Écoles & Données 2027", "--out", str(out)]) == 0
    assert load_event_config(out).slug == "ecoles-donnees-2027"
    assert main(["init", "--yes", *FLAGS[2:], "--name", "  RC  ", "--out", str(tmp_path / "rc.yaml")]) == 2
    assert "--slug:" in capsys.readouterr().err and not (tmp_path / "rc.yaml").exists()
