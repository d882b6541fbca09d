"""The benchmark's data set: what the mirror must admit for the bench to measure it."""

import zipfile
from pathlib import Path

from bench import dataset
from mirror.checks.content import inspect_distribution


def test_the_large_file_is_a_wheel_the_content_check_reads_and_a_hole_on_disk(
    tmp_path: Path,
) -> None:
    path = dataset.large_file(tmp_path, 8 << 20)
    assert path.stat().st_size >= 8 << 20
    assert inspect_distribution(path.name, path).errors == []
    with zipfile.ZipFile(path) as wheel:
        assert wheel.testzip() is None
    assert path.stat().st_blocks * 512 < 1 << 20
