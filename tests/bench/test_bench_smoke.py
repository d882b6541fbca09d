"""The benchmark runs end to end on a tiny data set (its figures are not checked: bench/)."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from bench import run


@pytest.mark.slow  # starts the servers it compares and runs pip and uv against them
def test_bench_runs_on_a_tiny_configuration(tmp_path: Path) -> None:
    servers = "ours,static,nginx" if shutil.which("nginx") else "ours,static"
    plot = importlib.util.find_spec("matplotlib") is not None
    argv = ["--tiny", "--servers", servers, "--seconds", "1", "--rounds", "1"]
    argv += ["--clients", "4", "--tools", str(tmp_path / "tools"), "--out", str(tmp_path)]
    assert run.main(argv + ([] if plot else ["--no-plot"])) == 0

    results = json.loads((tmp_path / "results.json").read_text())
    summary = results["summary"]
    for server in servers.split(","):
        assert all(summary["pages"][server][fmt]["4"]["rps"] > 0 for fmt in ("html", "json"))
        assert summary["downloads"][server]["parallel8_complete"] == 8
    for tool in ("pip", "uv"):
        timings = summary["installs"][f"fake/{tool}"]
        assert all(timings[s][phase] for s in ("upstream", "ours") for phase in ("cold", "warm"))
    assert {t["target"] for t in summary["targets"]} >= {"CPU per page request < 1 ms"}
    assert (tmp_path / "results.png").is_file() == plot


def test_first_look_cpu_runs_on_the_tiny_data_set(capsys) -> None:
    from bench import dataset, first_look

    assert first_look.main(["--tiny", "--gc-freeze"]) == 0
    report = json.loads(capsys.readouterr().out)
    tiny = dataset.TINY
    listed = sum(tiny.history[i % len(tiny.history)] + 1 for i in range(tiny.projects))
    assert report["files"] == listed
    assert report["cpu_seconds"]["refresh"] >= report["cpu_seconds"]["record"] > 0
    # The split of recording's CPU into per project and per file: a line through the projects.
    assert {"record_fixed_ms_per_project", "record_marginal_us_per_file"} <= report.keys()


def test_wire_bytes_runs_on_the_tiny_data_set(capsys) -> None:
    from bench import wire_bytes

    assert wire_bytes.main(["--tiny"]) == 0
    report = json.loads(capsys.readouterr().out)
    for form in ("json", "html"):
        sent = report["bytes"][form]
        assert sent["zstd"] < sent["identity"] and sent["gzip"] < sent["identity"]


def test_write_turns_runs_a_few_transactions(capsys) -> None:
    from bench import write_turns

    assert write_turns.main(["--tiny"]) == 0
    report = json.loads(capsys.readouterr().out)
    for way in ("turns", "busy_timeout_only"):
        assert report[way]["transactions"] == 3 * 4 * 3
        # Each transaction holds the lock while it sleeps, and no two hold it at once.
        held = report[way]["held_seconds"]
        assert 3 * 4 * 3 * write_turns.HOLD_SECONDS <= held <= report[way]["wall_seconds"]


def test_write_turns_counts_the_lock_held_once_where_clocks_overlap() -> None:
    from bench import write_turns

    # The second writer's clock starts before the first's commit has returned.
    spans = [(0.0, 0.0, 1.0), (0.0, 0.9, 2.0), (0.0, 3.0, 4.0)]
    assert write_turns.held_seconds(spans) == 3.0
    assert (
        write_turns.summarize(spans)["held_seconds"] <= write_turns.summarize(spans)["wall_seconds"]
    )


def test_scale_runs_on_a_small_embedded_mirror(tmp_path: Path) -> None:
    from bench import scale

    output = tmp_path / "scale.json"
    argv = ["--sizes", "20", "--files", "3", "--backends", "embedded", "--output", str(output)]
    assert scale.main(argv) == 0
    (result,) = json.loads(output.read_text())
    assert result["projects"] == 20 and result["files"] == 60
    assert result["refresh_cycle"]["cpu_s"] > 0 and result["warm_page_ms"] > 0
