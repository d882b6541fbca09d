"""Deciding a project's files at once gives each file the decision it gets on its own.

``state_changes.judge`` decides thousands of files per project per scheduler cycle, so it
shares work between them (one refusal per version, one verdict pass, one anchor and baseline),
and admits plain history without a verdict of its own (``state_changes.Checks``). The oracle
here is the policy's general path called file by file: the file's own view, refusal
(``refusal_for``), verdict and ``decide``. Sharing must never change a decision.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection

from mirror.config import AgeClock
from mirror.db import block_rows
from mirror.db.records import UNSAVED, FileRecord
from mirror.policy import verdicts
from mirror.policy.admission import STATES, Decision, State, decide
from mirror.policy.verdicts import AGE_CLOCK, FIRST_LOOK, FIRST_SEEN, HISTORY_EVIDENCE
from mirror.services import fetching, project_status, state_changes
from mirror.services.backends import Backends
from mirror.simple_api import ProjectStatus, Status
from mirror.upstream.listing import UpstreamFile
from tests.support.file_records import file_record

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# One project per provenance mode; the deny rule refuses some releases of each.
PROJECTS = {"judged-continuity": None, "judged-required": "required", "judged-off": "off"}
VERSIONS = ["0.9", "1.0", "1.0.0", "2.0rc1", "2.0", "not-a-version"]
PUBLISHER = "GitHub:o/r@release.yml"
DAY = timedelta(days=1)
TIMES = st.sampled_from([NOW - timedelta(days=d) for d in (400, 30, 8, 7, 3, 0)] + [NOW])


PROVENANCE_RECORDS = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["verified", "failed", "unavailable", "missing"]),
        "reason": st.just("why"),
        "identity": st.sampled_from([PUBLISHER, "GitHub:x/y@ci.yml"]),
        "pinned": st.sampled_from([None, PUBLISHER, "GitHub:x/y@ci.yml"]),
    }
)
CONTENT_RECORDS = st.one_of(
    st.fixed_dictionaries({"error": st.just("timeout")}),
    st.fixed_dictionaries(
        {"flags": st.lists(st.fixed_dictionaries({"text": st.just("new .pth")}), max_size=1)}
    ),
)


def _evidence_records() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            FIRST_LOOK: st.just(True),
            AGE_CLOCK: st.just(FIRST_SEEN),
            "provenance": PROVENANCE_RECORDS,
            "content": CONTENT_RECORDS,
        },
    )


@st.composite
def _files(draw: st.DrawFn) -> FileRecord:
    version = draw(st.sampled_from(VERSIONS))
    kind = draw(st.sampled_from(["py3-none-any.whl", "cp312-cp312-linux.whl", "tar.gz"]))
    hold_until = draw(st.one_of(st.none(), TIMES))
    return file_record(
        f"judged-{version}-{kind}",
        version=version,
        url="",
        sha256="",
        size=None,
        upload_time=draw(st.one_of(st.none(), TIMES)),
        provenance_url=draw(st.sampled_from([None, "listed"])),
        first_seen_at=draw(TIMES),
        present_upstream=draw(st.booleans()),
        state=draw(st.sampled_from([*STATES, *STATES.values()])),
        reason="",
        decided_by="upstream",
        state_at=NOW,
        hold_until=hold_until,
        evidence=draw(_evidence_records()),
    )


@st.composite
def _first_look_files(draw: st.DrawFn) -> FileRecord:
    """A file as a first look lists it: plain history (pending, listed at the first look with
    nothing gathered, older than the quarantine), or one fact away from it."""
    plain = draw(_files())._replace(
        state=draw(st.sampled_from([State.PENDING, "pending"])),
        hold_until=None,
        present_upstream=True,
        upload_time=draw(st.sampled_from([NOW - timedelta(days=d) for d in (400, 30, 8, 7)])),
        first_seen_at=NOW,
        evidence=draw(st.sampled_from([HISTORY_EVIDENCE, {FIRST_LOOK: True}])),
    )
    # (upload time, first seen): young at the first look, with no upload time, or seen first
    # by a clock running late, after ``now``, when the file was not old enough yet.
    clocks = [(NOW - 3 * DAY, NOW), (NOW - 8 * DAY, NOW - 3 * DAY), (None, NOW)]
    clocks.append((NOW - 3 * DAY, NOW + 7 * DAY))
    unlike = {
        "state": st.sampled_from(["quarantined", "admitted", "blocked"]).map(
            lambda state: {"state": state}
        ),
        "hold_until": TIMES.map(lambda at: {"hold_until": at}),
        "present_upstream": st.just({"present_upstream": False}),
        "clock": st.sampled_from(clocks).map(
            lambda clock: {"upload_time": clock[0], "first_seen_at": clock[1]}
        ),
        "evidence": st.one_of(
            PROVENANCE_RECORDS.map(lambda record: {"provenance": record}),
            CONTENT_RECORDS.map(lambda record: {"content": record}),
            st.just({AGE_CLOCK: FIRST_SEEN}),
        ).map(lambda more: {"evidence": {FIRST_LOOK: True, **more}}),
    }
    change = draw(st.sampled_from([None, *unlike]))
    return plain if change is None else plain._replace(**draw(unlike[change]))


def _unique(files: list[FileRecord]) -> list[FileRecord]:
    return list({f.filename: f for f in files}.values())


def _one_by_one(
    conn: Connection,
    backends: Backends,
    project: str,
    rows: list[FileRecord],
    anomalies: dict[str, str],
    upstream: ProjectStatus,
) -> list[Decision | None]:
    """Each file through the general path: its own refusal, its verdict, ``decide``."""
    config = backends.config
    blocks = block_rows.active_blocks(conn, project)
    mode = config.provenance_mode_for(project)
    quarantine = config.quarantine_for(project)
    views = [state_changes.file_view(row, quarantine) for row in rows]
    template = bool(config.integrity_url_template_for(project))
    anchor = verdicts.anchor_file(views, unlisted_may_attest=template)
    baseline = verdicts.publisher_baseline(views)
    evidence = [
        verdicts.combine(
            verdicts.provenance_verdict(
                mode,
                view,
                pinned=config.pinned_publisher_key(project),
                baseline=baseline,
                anchor=anchor,
                needed=verdicts.provenance_needed(mode, view, anchor),
            ),
            verdicts.content_verdict(view),
        )
        for view in views
    ]
    return [
        decide(
            state_changes.facts_of(
                row, anomalies.get(row.filename), verdict, project_status.upstream_hold(upstream)
            ),
            refusal=state_changes.refusal_for(backends, blocks, project, row.version),
            quarantine=quarantine,
            hold_without_upload_time=config.age_clock_for(project) == "hold",
            now=NOW,
        )
        for row, verdict in zip(rows, evidence, strict=True)
    ]


@pytest.fixture(params=["hold", "first-seen"])
def judged_backends(
    request: pytest.FixtureRequest, make_backends: Callable[..., Backends]
) -> Backends:
    projects = {name: {"provenance": mode} for name, mode in PROJECTS.items() if mode}
    projects["judged-required"]["publisher"] = PUBLISHER
    deny = [f"{name}==0.9" for name in PROJECTS]
    return make_backends(
        policy={"missing_upload_time": request.param, "deny": deny, "projects": projects}
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    project=st.sampled_from(sorted(PROJECTS)),
    files=st.lists(st.one_of(_files(), _first_look_files()), max_size=12).map(_unique),
    anomalous=st.sets(st.sampled_from(VERSIONS)),
    blocked=st.lists(st.sampled_from(["", ">=2.0rc1", "==1.0", "<1"]), max_size=2),
    held_upstream=st.booleans(),
)
def test_judging_a_project_decides_each_file_as_on_its_own(
    judged_backends: Backends,
    project: str,
    files: list[FileRecord],
    anomalous: set[str],
    blocked: list[str],
    held_upstream: bool,
) -> None:
    upstream = ProjectStatus(Status.QUARANTINED if held_upstream else Status.ACTIVE, "reason")
    anomalies = {f.filename: "hash changed" for f in files if f.version in anomalous}
    with judged_backends.engine.connect() as conn, conn.begin() as transaction:
        for specifier in blocked:
            block = {"project": project, "specifier": specifier, "reason": "incident"}
            block_rows.add_blocks(conn, [{**block, "actor": "admin:a", "created_at": NOW}])
        judged = state_changes.judge(
            conn, judged_backends, project, files, NOW, anomalies, upstream=upstream
        )
        expected = _one_by_one(conn, judged_backends, project, files, anomalies, upstream)
        transaction.rollback()
    moves = {row.filename: decision for row, decision in judged.moves}
    for row, decision in zip(files, expected, strict=True):
        changed = decision is not None and state_changes.differs(row, decision)
        assert moves.get(row.filename) == (decision if changed else None), row
        final = decision.state if decision is not None else row.state
        assert (row in judged.admitted) == (final == State.ADMITTED), row
    assert len(moves) == len(judged.moves)
    # In the files' order: the first look's history and events are made from them in order.
    decided = list(zip(files, expected, strict=True))
    assert judged.moves == [
        (row, d) for row, d in decided if d is not None and state_changes.differs(row, d)
    ]
    assert judged.admitted == [
        row for row, d in decided if (d.state if d is not None else row.state) == State.ADMITTED
    ]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.one_of(_files(), _first_look_files()), max_size=4),
    quarantine=st.sampled_from([timedelta(0), timedelta(days=7), timedelta(days=30)]),
)
def test_a_history_view_is_the_files_view(rows: list[FileRecord], quarantine: timedelta) -> None:
    """The shortcut gives the view the general path gives, or none, for each row of many."""
    views = state_changes.history_views(rows, quarantine, NOW)
    assert len(views) == len(rows)
    for row, view in zip(rows, views, strict=True):
        assert state_changes.history_views([row], quarantine, NOW) == [view]
        if view is not None:
            assert view == state_changes.file_view(row, quarantine)
            assert type(view) is verdicts.FileView
            assert view.settled and view.historic
            assert view.provenance is None and view.content is None


@settings(max_examples=500, deadline=None)
@given(
    files=st.lists(st.one_of(_files(), _first_look_files()), min_size=1, max_size=14).map(_unique),
    pick=st.integers(0, 13),
    quarantine=st.sampled_from([timedelta(0), timedelta(days=7), timedelta(days=30)]),
)
def test_the_content_check_of_one_file_reads_what_its_baseline_needs(
    files: list[FileRecord], pick: int, quarantine: timedelta
) -> None:
    """A first download's check reads the file and the release it is compared with, not the
    project: the baseline among those rows is the one among all, and every file of that
    release that may be chosen is there (the general path: every file's own view)."""
    candidate = files[pick % len(files)]
    by_name = {f.filename: f for f in files}
    versions = {f.filename: f.version for f in files}
    rows = state_changes.content_check_rows(
        versions, by_name.get, candidate.filename, quarantine, NOW
    )
    views = {f.filename: state_changes.file_view(f, quarantine) for f in files}
    mine = views[candidate.filename]
    expected = verdicts.content_baseline(views.values(), mine)
    assert rows[0] is candidate
    assert all(by_name[row.filename] is row for row in rows)
    read = [views[row.filename] for row in rows]
    assert verdicts.content_baseline(read, mine) == expected
    if expected is None:
        assert rows == [candidate]
        return
    # The settled files of its kind in the baseline's release: what the choice was made among.
    release = verdicts.version_key(expected.version)
    assert {row.filename for row in rows[1:]} == {
        v.filename
        for v in views.values()
        if v.settled and v.is_wheel == mine.is_wheel and verdicts.version_key(v.version) == release
    }


def test_the_content_check_of_a_file_without_a_row_reads_nothing() -> None:
    files = {f"judged-{v}-py3-none-any.whl": v for v in VERSIONS}
    assert (
        state_changes.content_check_rows(files, lambda name: None, "judged-x.whl", DAY, NOW) == []
    )


UPSTREAM_FILES = st.builds(
    UpstreamFile,
    filename=st.sampled_from(["p-1.0.tar.gz", "p-1.0-py3-none-any.whl"]),
    version=st.sampled_from(VERSIONS),
    url=st.just("https://files.invalid/p"),
    sha256=st.just("ab" * 32),
    size=st.one_of(st.none(), st.integers(0, 10)),
    upload_time=st.one_of(st.none(), TIMES),
    requires_python=st.one_of(st.none(), st.just(">=3.9")),
    yanked=st.booleans(),
    yanked_reason=st.one_of(st.none(), st.just("broken")),
    metadata_sha256=st.one_of(st.none(), st.just("cd" * 32)),
    provenance_url=st.one_of(st.none(), st.just("https://files.invalid/p.prov")),
)


@settings(max_examples=200, deadline=None)
@given(
    files=st.lists(UPSTREAM_FILES, max_size=4),
    history=st.booleans(),
    clock=st.sampled_from(["hold", FIRST_SEEN]),
)
def test_candidates_are_the_records_named_field_by_field(
    files: list[UpstreamFile], history: bool, clock: AgeClock
) -> None:
    """A first look's candidates, made by position, are the records each field names."""
    made = fetching.candidates(files, NOW, history=history, clock=clock)
    expected = [
        FileRecord(
            id=UNSAVED,
            project_id=UNSAVED,
            filename=f.filename,
            version=f.version,
            url=f.url,
            sha256=f.sha256,
            size=f.size,
            upload_time=f.upload_time,
            requires_python=f.requires_python,
            yanked=f.yanked,
            yanked_reason=f.yanked_reason,
            upstream_metadata_sha256=f.metadata_sha256,
            metadata_sha256=f.metadata_sha256,
            metadata_size=None,
            provenance_url=f.provenance_url,
            provenance_sha256=None,
            first_seen_at=NOW,
            present_upstream=True,
            state=State.PENDING,
            reason="new upstream file",
            decided_by="upstream",
            state_at=NOW,
            hold_until=None,
            cached=False,
            evidence={
                **({FIRST_LOOK: True} if history else {}),
                **(
                    {AGE_CLOCK: FIRST_SEEN} if f.upload_time is None and clock == FIRST_SEEN else {}
                ),
            },
        )
        for f in files
    ]
    assert made == expected
    assert [type(record) for record in made] == [FileRecord] * len(files)
    assert [fetching.candidate(f, NOW, history=history, clock=clock) for f in files] == expected


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    project=st.sampled_from(sorted(PROJECTS)),
    files=st.lists(st.one_of(_files(), _first_look_files()), max_size=12).map(_unique),
    replacements=st.lists(st.one_of(_files(), _first_look_files()), max_size=12),
    earlier_now=st.sampled_from([NOW, NOW - DAY]),
    reordered=st.booleans(),
    kept=st.integers(0, 24),
)
def test_checks_reusing_earlier_views_are_the_checks_made_afresh(
    judged_backends: Backends,
    project: str,
    files: list[FileRecord],
    replacements: list[FileRecord],
    earlier_now: datetime,
    reordered: bool,
    kept: int,
) -> None:
    """Views reused from earlier checks (a first look's, made before its evidence was
    gathered) give the checks and decisions made from the rows alone: only the very same
    rows at the same places, under the same quarantine and moment, reuse theirs."""
    # Earlier rows: the same objects, or other rows under the same names (evidence gathered
    # since), and files no longer listed; in another order, or fewer, at times.
    earlier_rows = [
        other._replace(filename=row.filename) if other is not None else row
        for row, other in zip(files, [*replacements, *[None] * len(files)], strict=False)
    ] + [other._replace(filename=f"gone-{other.filename}") for other in replacements]
    if reordered:
        earlier_rows.reverse()
    earlier_rows = earlier_rows[:kept]
    earlier = state_changes.checks_of(
        judged_backends, project, earlier_rows, private=False, now=earlier_now
    )
    reused = state_changes.checks_of(
        judged_backends, project, files, private=False, now=NOW, earlier=earlier
    )
    afresh = state_changes.checks_of(judged_backends, project, files, private=False, now=NOW)
    assert reused == afresh
    with judged_backends.engine.connect() as conn:
        judged = state_changes.judge(conn, judged_backends, project, files, NOW, earlier=earlier)
        expected = state_changes.judge(conn, judged_backends, project, files, NOW)
    assert judged == expected


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    project=st.sampled_from([*sorted(PROJECTS), "judged-unruled"]),
    versions=st.lists(st.sampled_from(VERSIONS), max_size=6),
    blocked=st.lists(st.sampled_from(["", ">=2.0rc1", "==1.0"]), max_size=1),
)
def test_refusals_are_each_versions_refusal(
    judged_backends: Backends, project: str, versions: list[str], blocked: list[str]
) -> None:
    """Refusals asked once per project where no rule names it and no block holds it are the
    refusals asked version by version."""
    with judged_backends.engine.connect() as conn, conn.begin() as transaction:
        for specifier in blocked:
            block = {"project": project, "specifier": specifier, "reason": "incident"}
            block_rows.add_blocks(conn, [{**block, "actor": "admin:a", "created_at": NOW}])
        blocks = block_rows.active_blocks(conn, project)
        transaction.rollback()
    refused = state_changes.refusals(judged_backends, blocks, project, iter(versions))
    assert refused == {
        v: state_changes.refusal_for(judged_backends, blocks, project, v) for v in versions
    }
