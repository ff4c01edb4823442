"""The official lexicons as JSON Schemas (`relaycast_local.lexicons`): every definition converts, and what the
protocol allows or refuses is allowed or refused."""

import pytest

from relaycast_local.lexicons import LEXICONS, LexiconError, Lexicons

POST = "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l6oveex3ii2l"
CID = "bafyreibjifzpqj6o6wcq3hejh7y4z4z2vmiklkvykc57tw3pcbx3kxifpm"


@pytest.fixture(scope="module")
def lexicons() -> Lexicons:
    return Lexicons()


def test_every_definition_of_the_official_folder_converts(lexicons):
    assert LEXICONS.is_dir() and len(lexicons.documents) == len(list(LEXICONS.rglob("*.json")))
    assert "app.bsky.feed.repost#main" in lexicons._defs and len(lexicons._defs) > 50


def test_a_repost_record_is_valid_only_with_a_strong_ref_and_a_datetime(lexicons):
    record = {"$type": "app.bsky.feed.repost", "subject": {"uri": POST, "cid": CID}, "createdAt": "2026-12-04T10:00:00.000Z"}
    lexicons.validate("app.bsky.feed.repost", "record", record)
    for broken, field in (({**record, "subject": {"uri": POST}}, "cid"),
                          ({**record, "createdAt": "yesterday"}, "createdAt"),
                          ({**record, "subject": {"uri": "https://bsky.app/x", "cid": CID}}, "uri")):
        with pytest.raises(LexiconError, match=field):
            lexicons.validate("app.bsky.feed.repost", "record", broken)


def test_fields_a_lexicon_does_not_name_are_allowed(lexicons):
    lexicons.validate("com.atproto.repo.deleteRecord", "input",
                      {"repo": "did:plc:abc", "collection": "app.bsky.feed.repost", "rkey": "3l6oveex3ii2l", "later": 1})


def test_query_parameters_keep_their_bounds(lexicons):
    lexicons.validate("app.bsky.feed.searchPosts", "parameters", {"q": "#x", "tag": ["x"], "limit": 100})
    with pytest.raises(LexiconError, match="limit"):
        lexicons.validate("app.bsky.feed.searchPosts", "parameters", {"q": "#x", "limit": 101})
    with pytest.raises(LexiconError, match="'q' is a required property"):
        lexicons.validate("app.bsky.feed.searchPosts", "parameters", {"tag": ["x"]})


def test_an_open_union_checks_the_members_it_knows_and_lets_others_through(lexicons):
    view = {"uri": POST, "cid": CID, "author": {"did": "did:plc:abc", "handle": "nils.bsky.social"}, "record": {},
            "indexedAt": "2026-12-04T10:00:00.000Z"}
    lexicons.validate("app.bsky.feed.searchPosts", "output", {"posts": [view]})
    external = {"$type": "app.bsky.embed.external#view", "external": {"uri": "https://example.org", "title": "t"}}
    with pytest.raises(LexiconError, match="description"):  # a known member: its required fields count
        lexicons.validate("app.bsky.feed.searchPosts", "output", {"posts": [{**view, "embed": external}]})
    lexicons.validate("app.bsky.feed.searchPosts", "output", {"posts": [{**view, "embed": {"$type": "app.example.future#view"}}]})
    with pytest.raises(LexiconError, match=r"\$type"):  # a union member names its type
        lexicons.validate("app.bsky.feed.searchPosts", "output", {"posts": [{**view, "embed": {"external": {}}}]})


def test_a_folder_without_lexicons_is_an_error_not_an_empty_validator(tmp_path):
    with pytest.raises(FileNotFoundError):
        Lexicons(tmp_path)
