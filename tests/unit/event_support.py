"""The smallest valid event file the unit tests start from (a module name of its own, like every test folder's)."""

GOOD = {
    "name": "Test Summit",
    "slug": "test-summit",
    "hashtags": ["#TS26"],
    "timezone": "Europe/Paris",
    "start": "2026-12-01T09:00",
    "end": "2026-12-02T18:00",
    "notice_sender": "relaycast@example.org",
}
