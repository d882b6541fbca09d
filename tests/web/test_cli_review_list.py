"""`mirror review list`: one line per release under a header, the UI's state names and
filters, and JSON (docs/review.md, "Queue")."""

import json

import pytest

from mirror import cli
from mirror.services.backends import Backends


def review_list(backends: Backends, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    args = cli._parser().parse_args(["review", "list", *argv])
    assert args.handler(args, backends.config) == 0
    return capsys.readouterr().out


def test_one_line_per_release_with_a_header(open_, capsys) -> None:  # type: ignore[no-untyped-def]
    _client, backends, _made = open_
    lines = review_list(backends, capsys).splitlines()
    assert lines[0].split() == ["PROJECT", "VERSION", "FILES", "UNTIL", "REASON"]
    assert [line.split()[:3] for line in lines[1:]] == [["demo", "2.0", "1"], ["other", "3.0", "1"]]
    assert "younger than the quarantine" in lines[1]


def test_filters_and_state_names(open_, capsys) -> None:  # type: ignore[no-untyped-def]
    _client, backends, _made = open_
    assert review_list(backends, capsys, "--project", "oth*").splitlines()[1].startswith("other")
    assert "no quarantined releases" in review_list(backends, capsys, "--reason", "nothing like")
    admitted = review_list(backends, capsys, "--state", "admitted").splitlines()
    assert [line.split()[:2] for line in admitted[1:]] == [["demo", "1.0"]]
    args = cli._parser().parse_args(["review", "list", "--status", "admitted"])
    assert args.handler(args, backends.config) == 0
    deprecated = capsys.readouterr()
    assert deprecated.out.splitlines() == admitted and "--status is deprecated" in deprecated.err


def test_json(open_, capsys) -> None:  # type: ignore[no-untyped-def]
    _client, backends, _made = open_
    shown = json.loads(review_list(backends, capsys, "--json", "--project", "demo"))
    assert [(r["project"], r["version"], r["state"]) for r in shown] == [
        ("demo", "2.0", "quarantined")
    ]
    assert shown[0]["files"] == ["demo-2.0-py3-none-any.whl"] and shown[0]["hold_until"]
