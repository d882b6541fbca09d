"""config/scaled.toml, the sample in docs/deployment.md, is a valid scaled-out configuration."""

from pathlib import Path

from mirror.config import load_config

REPO = Path(__file__).resolve().parents[1]


def test_scaled_sample_config_is_valid_and_scaled_out() -> None:
    config = load_config(REPO / "config" / "scaled.toml", env={})
    assert config.storage.backend == "s3" and config.storage.s3.bucket
    assert config.database_url.startswith("postgresql+psycopg://")
    assert config.server.scheduler is False
    assert config.anonymous_read is False
