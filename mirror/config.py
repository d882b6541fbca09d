"""Configuration: one TOML file plus ``MIRROR_<SECTION>_<KEY>`` environment overrides.

Where the file comes from: ``--config``, else ``MIRROR_CONFIG``, else ``./mirror.toml`` when
present, else built-in defaults. Unknown keys are errors, because a misspelt ``deny`` that is
silently ignored would let through what an admin meant to block. ``config/mirror.toml``
documents every key.
"""

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from mirror.errors import ConfigError
from mirror.hosts import HostPort
from mirror.names import is_valid_project_name, normalize
from mirror.publishers import PROVENANCE_MODES, PinnedPublisher, ProvenanceMode
from mirror.timeutil import parse_duration

# Every key with its default. None means "derived at run time" (see the properties below).
DEFAULTS: dict[str, dict[str, Any]] = {
    "upstream": {
        "url": None,
        "ttl": "10m",
        "timeout": "30s",
        "retries": 2,
        "max_page_bytes": 64 * 1024 * 1024,
        "max_file_bytes": 8 * 1024**3,
        "integrity_url_template": "",
        "prefetch_dependencies": True,
        "allowed_hosts": [],
    },
    "server": {
        "bind": "127.0.0.1:8080",
        "workers": 2,
        "threads": 8,
        "scheduler": True,
        "trusted_proxies": 0,
    },
    "storage": {
        "backend": "fs",
        "path": "./mirror-data",
        "s3": {"bucket": "", "prefix": "", "endpoint_url": "", "region": "", "presign": False},
    },
    "database": {"url": None, "connect_timeout": "5s", "statement_timeout": "15s"},
    "policy": {
        "quarantine": "7d",
        "missing_upload_time": "hold",
        "internal": [],
        "allowlist_only": False,
        "allow": [],
        "deny": [],
        "checks_per_sync": 20,
        "projects": {},
    },
    "provenance": {"mode": "continuity", "offline": False, "trust_root": "", "max_bytes": 1 << 20},
    "auth": {"anonymous_read": None},
    "tuf": {"keys_dir": None, "online_signer": ""},
    "scheduler": {
        "interval": "60s",
        "concurrency": 4,
        "max_backoff": "1h",
        "max_cycle_age": "10m",
        "timestamp_margin": "1h",
    },
    "audit": {"flush_interval": "1s", "batch_size": 500},
    "debug": {"clock_offset": "0"},
}

_PROJECT_KEYS = {"quarantine", "provenance", "publisher"}


@dataclass(frozen=True)
class ProjectPolicy:
    """Per-project overrides from ``[policy.projects.<name>]``."""

    quarantine: timedelta | None = None
    provenance: ProvenanceMode | None = None
    publisher: PinnedPublisher | None = None


@dataclass(frozen=True)
class Config:
    """The whole configuration, validated. Sections stay dicts of plain values."""

    raw: Mapping[str, Mapping[str, Any]]
    source: str
    projects: Mapping[str, ProjectPolicy] = field(default_factory=dict)

    def get(self, section: str, key: str) -> Any:
        return self.raw[section][key]

    @property
    def data_dir(self) -> Path:
        return Path(self.get("storage", "path")).expanduser().resolve()

    @property
    def database_url(self) -> str:
        url = self.get("database", "url")
        return url or f"sqlite:///{self.data_dir / 'mirror.db'}"

    @property
    def keys_dir(self) -> Path:
        configured = self.get("tuf", "keys_dir")
        return Path(configured).expanduser().resolve() if configured else self.data_dir / "keys"

    @property
    def loopback_bind(self) -> bool:
        """Whether the server listens on this machine only (no TLS needed in front of it)."""
        host = self.get("server", "bind").rsplit(":", 1)[0].strip("[]")
        return host in {"127.0.0.1", "localhost", "::1"}

    @property
    def anonymous_read(self) -> bool:
        configured = self.get("auth", "anonymous_read")
        return self.loopback_bind if configured is None else bool(configured)

    def duration(self, section: str, key: str) -> timedelta:
        return parse_duration(self.get(section, key))

    def quarantine_for(self, project: str) -> timedelta:
        override = self.projects.get(project)
        if override and override.quarantine is not None:
            return override.quarantine
        return self.duration("policy", "quarantine")

    def provenance_mode_for(self, project: str) -> ProvenanceMode:
        override = self.projects.get(project)
        if override and override.provenance:
            return override.provenance
        return cast(ProvenanceMode, self.get("provenance", "mode"))

    def publisher_for(self, project: str) -> PinnedPublisher | None:
        """The pinned Trusted Publisher of ``[policy.projects.<name>] publisher``, if any."""
        override = self.projects.get(project)
        return override.publisher if override else None

    def pinned_publisher_key(self, project: str) -> str | None:
        """The pinned publisher as one string (environment included); evidence records it."""
        pinned = self.publisher_for(project)
        if pinned is None:
            return None
        return pinned.identity + (f"#{pinned.environment}" if pinned.environment else "")


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Load, merge and validate the configuration.

    Raises:
        ConfigError: the file is unreadable or malformed, or a key or value is invalid.
    """
    env = os.environ if env is None else env
    file_path = _config_path(path, env)
    data = _read_toml(file_path) if file_path else {}
    merged = _merge(DEFAULTS, data, "")
    _apply_env(merged, env)
    for section, values in (overrides or {}).items():
        merged[section].update(values)
    return _validate(Config(raw=merged, source=str(file_path or "defaults")))


def _config_path(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    if path:
        return Path(path)
    if env.get("MIRROR_CONFIG"):
        return Path(env["MIRROR_CONFIG"])
    local = Path("mirror.toml")
    return local if local.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc


def _merge(defaults: Mapping[str, Any], data: Mapping[str, Any], where: str) -> dict[str, Any]:
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in defaults.items()}
    for key, value in data.items():
        dotted = f"{where}{key}"
        if key not in defaults:
            raise ConfigError(f"unknown config key {dotted!r}")
        if isinstance(defaults[key], dict) and dotted != "policy.projects":
            if not isinstance(value, dict):
                raise ConfigError(f"config key {dotted!r} must be a table")
            merged[key] = _merge(defaults[key], value, dotted + ".")
        else:
            merged[key] = value
    return merged


def _env_keys(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    keys: dict[str, tuple[str, ...]] = {}
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, dict) and path != ("policy", "projects"):
            keys.update(_env_keys(value, path))
        else:
            keys["MIRROR_" + "_".join(path).upper()] = path
    return keys


def _apply_env(merged: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, path in _env_keys(DEFAULTS).items():
        if name in env:
            target = merged
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = _parse_env_value(env[name])


def _parse_env_value(text: str) -> Any:
    # TOML literal syntax lets one variable carry a list, a bool or a number; anything else is
    # taken as a plain string so URLs and paths need no quoting.
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _validate(config: Config) -> Config:
    for section, key in (
        ("upstream", "ttl"),
        ("upstream", "timeout"),
        ("policy", "quarantine"),
        ("scheduler", "interval"),
        ("scheduler", "max_backoff"),
        ("scheduler", "max_cycle_age"),
        ("scheduler", "timestamp_margin"),
        ("audit", "flush_interval"),
        ("debug", "clock_offset"),
        ("database", "connect_timeout"),
        ("database", "statement_timeout"),
    ):
        config.duration(section, key)
    if config.get("storage", "backend") not in {"fs", "s3"}:
        raise ConfigError('storage.backend must be "fs" or "s3"')
    if config.get("provenance", "mode") not in PROVENANCE_MODES:
        raise ConfigError("provenance.mode must be one of: required, continuity, off")
    if config.get("policy", "missing_upload_time") not in {"hold", "admit"}:
        raise ConfigError('policy.missing_upload_time must be "hold" or "admit"')
    _whole_number(config, "policy", "checks_per_sync", minimum=1)
    _whole_number(config, "server", "trusted_proxies", minimum=0)
    _whole_number(config, "scheduler", "concurrency", minimum=1)
    for key in ("internal", "allow", "deny"):
        if not isinstance(config.get("policy", key), list):
            raise ConfigError(f"policy.{key} must be a list of strings")
    _allowed_hosts(config.get("upstream", "allowed_hosts"))
    projects = {
        normalize(n): _project_policy(n, v) for n, v in config.get("policy", "projects").items()
    }
    return Config(raw=config.raw, source=config.source, projects=projects)


def _allowed_hosts(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        raise ConfigError("upstream.allowed_hosts must be a list of host or host:port strings")
    for entry in value:
        HostPort.parse(entry)


def _whole_number(config: Config, section: str, key: str, *, minimum: int) -> None:
    value = config.get(section, key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{section}.{key} must be a whole number of at least {minimum}")


def _project_policy(name: str, values: Any) -> ProjectPolicy:
    if not is_valid_project_name(name) or not isinstance(values, dict):
        raise ConfigError(f"policy.projects.{name} must be a table named after a project")
    unknown = set(values) - _PROJECT_KEYS
    if unknown:
        raise ConfigError(f"unknown key(s) in policy.projects.{name}: {', '.join(sorted(unknown))}")
    mode = values.get("provenance")
    if mode is not None and mode not in PROVENANCE_MODES:
        raise ConfigError(f"policy.projects.{name}.provenance must be required, continuity or off")
    if mode == "required" and not values.get("publisher"):
        raise ConfigError(f'policy.projects.{name}: provenance "required" needs a publisher')
    quarantine = values.get("quarantine")
    return ProjectPolicy(
        quarantine=parse_duration(quarantine) if quarantine is not None else None,
        provenance=mode,
        publisher=_publisher(name, values.get("publisher")),
    )


def _publisher(name: str, value: Any) -> PinnedPublisher | None:
    if value is None:
        return None
    if not isinstance(value, str | dict):
        raise ConfigError(f"policy.projects.{name}.publisher must be a string or a table")
    try:
        return PinnedPublisher.parse(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"policy.projects.{name}.publisher: {exc}") from exc
