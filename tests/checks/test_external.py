"""External scanners (docs/admission.md, "External scanners"): an operator's command on each
candidate file, without a shell, bounded in time and output; its JSON verdict is advisory
evidence that can hold a file for review through ``hold_on`` and never admits one."""

import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mirror.app import create_app
from mirror.checks.external import scan
from mirror.config import load_config
from mirror.db import file_rows
from mirror.errors import ConfigError
from mirror.policy.admission import State
from mirror.scanner_rules import Condition, ConditionError, Scanner, ScanOutcome, record
from mirror.services import sync
from mirror.services.backends import Backends
from tests.support.fake_upstream import FakeUpstream
from tests.web.conftest import make_tokens
from tests.web.test_admin import sign_in

OLD = datetime.now(UTC) - timedelta(days=30)
HOSTILE = "<script>window.__pwned=1</script>"


def script(tmp_path: Path, name: str, body: str) -> Path:
    """A scanner: a Python script the test writes, run by this interpreter."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


def scanner(
    path: Path,
    *,
    timeout: float = 10,
    max_output: int = 4096,
    hold_on: tuple[str, ...] = (),
    args: tuple[str, ...] = (),
) -> Scanner:
    conditions = tuple(Condition.parse(text) for text in hold_on)
    return Scanner("fake", (sys.executable, str(path), *args), timeout, max_output, conditions)


# A scanner that starts a child which would outlive it: the whole group goes at the timeout.
OUTLIVING_CHILD = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "time.sleep(60)\n"
)
REPORTER = """
    import json, os, sys
    target = next(a for a in sys.argv[1:] if a.endswith(".whl")).rpartition("=")[2]
    print(json.dumps({"issues": int(os.path.getsize(target) > 0) * 2, "file": target,
                      "argv": sys.argv[1:], "env": sorted(os.environ), "cwd": os.getcwd()}))
"""


def test_the_verdict_is_the_json_it_prints_and_the_file_is_its_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIRROR_DATABASE_URL", "postgresql://mirror:secret@db/mirror")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not for scanners")
    target = tmp_path / "demo-1.0-py3-none-any.whl"
    target.write_bytes(b"PK")
    appended = scan(scanner(script(tmp_path, "s", REPORTER), args=("--json",)), target)
    assert appended.error is None and appended.exit_status == 0
    assert appended.verdict["argv"] == ["--json", str(target)] and appended.verdict["issues"] == 2
    assert set(appended.verdict["env"]) <= {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "LC_CTYPE"}
    assert appended.verdict["cwd"] != str(Path.cwd())  # a fresh working directory
    # {file} is replaced where it stands; a shell's syntax is only text.
    placed = scanner(script(tmp_path, "s", REPORTER), args=("--in={file}", "; touch pwned", "x"))
    outcome = scan(placed, target)
    assert outcome.verdict["argv"] == [f"--in={target}", "; touch pwned", "x"]
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("import time\ntime.sleep(30)\n", "timed out after 0.5s"),
        ("print('all clean, promise')\n", "no JSON verdict (exit 0)"),
        (
            "import sys\nsys.stdout.write('[' + '1,' * 5_000_000 + '1]')\n",
            "printed more than 4096 bytes",
        ),
        (
            "raise SystemExit('scanner crashed: ' + 'x' * 5000)\n",
            "no JSON verdict (exit 1): scanner crashed",
        ),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", "killed by signal 11"),
        (
            OUTLIVING_CHILD,
            "timed out",
        ),
    ],
    ids=["timeout", "not-json", "huge-output", "crash", "signal", "child-outlives"],
)
def test_a_misbehaving_scanner_is_a_failure_on_record_in_bounded_time(
    tmp_path: Path, body: str, error: str
) -> None:
    target = tmp_path / "f.whl"
    target.write_bytes(b"PK")
    started = time.monotonic()
    outcome = scan(scanner(script(tmp_path, "bad", body), timeout=0.5), target)
    assert time.monotonic() - started < 5
    assert outcome.verdict is None and outcome.error is not None and error in outcome.error
    assert len(outcome.error) < 700  # stderr is cut short


def test_a_scanner_that_cannot_start_is_a_failure(tmp_path: Path) -> None:
    missing = Scanner("gone", (str(tmp_path / "no-such-scanner"),), 5, 100)
    assert "cannot start" in (scan(missing, tmp_path).error or "")


@pytest.mark.parametrize(
    ("condition", "verdict", "error", "holds"),
    [
        ("issues > 0", {"issues": 2}, None, True),
        ("issues > 0", {"issues": 0}, None, False),
        ("issues > 0", {"issues": [1, 2]}, None, True),  # a list counts its items
        ("issues >= 1", {"issues": {}}, None, False),
        ("issues > 0", {"issues": "3"}, None, False),  # a string is no number
        ("issues > 0", {}, None, False),  # missing: no match
        ("verdict == malicious", {"verdict": "malicious"}, None, True),
        ('verdict == "malicious"', {"verdict": "benign"}, None, False),
        ("summary.malicious == true", {"summary": {"malicious": True}}, None, True),
        ("summary.malicious == true", {"summary": {"malicious": 1}}, None, False),
        ("score != 0", {"score": 0.0}, None, False),
        ("score <= 0.5", {"score": 0.25}, None, True),
        ("issues > 0", None, "timed out after 1s", False),
        ("failed", None, "timed out after 1s", True),
        ("failed", {"issues": 9}, None, False),
    ],
)
def test_hold_conditions_are_a_small_language(
    condition: str, verdict: Any, error: str | None, holds: bool
) -> None:
    parsed = Condition.parse(condition)
    assert parsed.matches(ScanOutcome(verdict=verdict, error=error)) is holds


@pytest.mark.parametrize(
    "condition",
    ["__import__('os').system('id')", "issues > many", "issues", "a..b == 1", "issues =~ 1", ""],
)
def test_anything_else_is_refused_when_the_config_is_read(condition: str) -> None:
    with pytest.raises(ConditionError):
        Condition.parse(condition)


def test_the_record_names_the_condition_that_holds(tmp_path: Path) -> None:
    held = record(
        scanner(tmp_path, hold_on=("failed", "issues > 0")), ScanOutcome({"issues": 1}), "t"
    )
    assert held == {
        "status": "ok",
        "verdict": {"issues": 1},
        "error": None,
        "exit_status": None,
        "hold": "issues > 0",
        "ran_at": "t",
    }


ENTRY = '[[checks.external]]\nname = "guarddog"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            ENTRY + 'command = "guarddog scan {file}"\n',
            r"checks.external\[0\].command must be a list of strings",
        ),
        (ENTRY + "command = []\n", "non-empty list"),
        (
            ENTRY + 'command = ["g"]\nhold_on = ["os.system(1)"]\n',
            r"hold_on: 'os.system\(1\)' is not a condition",
        ),
        (ENTRY + 'command = ["g"]\ntimeout = "0s"\n', "timeout must be longer than zero"),
        (
            ENTRY + 'command = ["g"]\nmax_output = 0\n',
            "max_output must be a whole number of at least 1",
        ),
        (ENTRY + 'command = ["g"]\nshell = true\n', "unknown key"),
        ('[[checks.external]]\nname = "a b"\ncommand = ["g"]\n', "name must be"),
        ((ENTRY + 'command = ["g"]\n') * 2, "two entries share a name"),
    ],
)
def test_bad_scanner_entries_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})


def test_a_scanner_entry_is_read_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        ENTRY + 'command = ["guarddog", "pypi", "scan", "{file}"]\nhold_on = ["issues > 0"]\n'
    )
    (entry,) = load_config(path, env={}).checks.external
    assert (entry.name, entry.timeout, entry.max_output) == ("guarddog", 60.0, 1 << 20)
    assert entry.argv(Path("/x.whl")) == ["guarddog", "pypi", "scan", "/x.whl"]
    assert [c.text for c in entry.hold_on] == ["issues > 0"]


# -- as evidence of the admission checks -------------------------------------------------------

VERDICT_FROM_FILE = """
    import json, sys, zipfile
    names = zipfile.ZipFile(sys.argv[-1]).namelist()
    print(json.dumps({"issues": sum(n.endswith(".pth") for n in names), "note": NOTE}))
""".replace("NOTE", repr(HOSTILE))


def admitted_then_candidate(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    entry: dict[str, Any],
    **candidate: Any,
) -> tuple[Backends, Any]:
    """demo 1.0 (history, admitted) and then 1.1 (a candidate), quarantine 0, one scanner."""
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path / "b", upload_time=OLD)
    backends = make_backends(policy={"quarantine": "0"}, checks={"external": [entry]})
    sync.refresh(backends, "demo", force=True)
    fake_upstream.publish_release(
        "demo", "1.1", tmpdir=tmp_path / "b", upload_time="now", **candidate
    )
    sync.refresh(backends, "demo", force=True)
    with backends.engine.connect() as conn:
        history = file_rows.file_by_name(conn, "demo", "demo-1.0-py3-none-any.whl")
        row = file_rows.file_by_name(conn, "demo", "demo-1.1-py3-none-any.whl")
    assert history is not None and "external" not in history.evidence  # history is not scanned
    return backends, row


def test_a_clean_verdict_is_evidence_and_the_file_is_admitted(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    path = script(tmp_path, "scan", VERDICT_FROM_FILE)
    entry = {"name": "fake", "command": [sys.executable, str(path)], "hold_on": ["issues > 0"]}
    _backends, row = admitted_then_candidate(make_backends, fake_upstream, tmp_path, entry)
    assert row.state == State.ADMITTED
    found = row.evidence["external"]["fake"]
    assert (found["status"], found["verdict"]["issues"], found["hold"]) == ("ok", 0, None)


def test_a_matching_hold_condition_holds_the_file_for_review_and_the_page_says_why(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    path = script(tmp_path, "scan", VERDICT_FROM_FILE)
    entry = {"name": "fake", "command": [sys.executable, str(path)], "hold_on": ["issues > 0"]}
    # A .pth that runs nothing: content inspection alone would admit it.
    backends, row = admitted_then_candidate(
        make_backends, fake_upstream, tmp_path, entry, pth={"demo_paths.pth": "lib\n"}
    )
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)
    assert row.reason == "external scanner fake: issues > 0"
    client = create_app(backends.config, backends).test_client()
    sign_in(client, make_tokens(backends).secrets["review"])
    page = client.get("/admin/projects/demo/releases/1.1").get_data(as_text=True)
    summary = page[page.index('id="summary"') : page.index('id="diff"')]
    assert "external scanners:</strong> fake: verdict {&#34;issues&#34;: 1" in summary
    assert "holds for review (issues &gt; 0)" in summary
    assert HOSTILE not in page and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("hold_on", "state"), [([], State.ADMITTED), (["failed"], State.QUARANTINED)]
)
def test_a_failing_scanner_holds_only_when_hold_on_says_failed(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    hold_on: list[str],
    state: State,
) -> None:
    path = script(tmp_path, "scan", "print('not json')\n")
    entry = {"name": "fake", "command": [sys.executable, str(path)], "hold_on": hold_on}
    _backends, row = admitted_then_candidate(make_backends, fake_upstream, tmp_path, entry)
    assert row.evidence["external"]["fake"]["error"] == "no JSON verdict (exit 0)"
    assert row.state == state
