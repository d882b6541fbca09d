"""What the in-process benchmarks (first_look, wire_bytes) share: the data set they run on,
and a mirror in this process on the embedded default that admits what the upstream lists."""

from pathlib import Path

from bench import dataset
from mirror.config import load_config
from mirror.server import initialise
from mirror.services.backends import Backends


def size_for(tiny: bool) -> dataset.Size:
    """The smoke test's data set, or the full one with a small large file: the in-process
    benchmarks never look at it, and a small one keeps the run's disk use low."""
    if tiny:
        return dataset.TINY
    full = dataset.FULL
    return dataset.Size(full.projects, full.history, full.payloads, large_file=8 << 20)


def mirror_backends(upstream_url: str, work: Path) -> Backends:
    """A new mirror's backends in ``work`` (quarantine 0: everything listed is admitted)."""
    config_path = work / "mirror.toml"
    config_path.write_text(
        f'[upstream]\nurl = "{upstream_url}"\n'
        f'[storage]\npath = "{work / "data"}"\n[policy]\nquarantine = "0"\n'
    )
    config = load_config(config_path, env={})
    initialise(config)
    return Backends.from_config(config)
