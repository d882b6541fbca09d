"""The benchmark's targets, computed from a summary."""

from bench import report


def test_a_cold_install_is_compared_with_the_faster_of_the_two_straight_from_upstream() -> None:
    # The upstream had a slow moment during its "cold" install: 6.5 s against 1.6 s.
    installs = {"real/uv": {"upstream": {"cold": 6.5, "warm": 1.6}, "ours": {"cold": 6.4}}}
    summary = {"pages": {}, "downloads": {}, "installs": installs}
    [target] = [t for t in report.targets(summary) if t["target"].startswith("cold install")]
    assert (target["value"], target["met"]) == (4.0, False)
