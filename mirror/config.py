"""Configuration: one TOML file plus ``MIRROR_<SECTION>_<KEY>`` environment overrides.

Where the file comes from: ``--config``, else ``MIRROR_CONFIG``, else ``./mirror.toml`` when
present, else built-in defaults. Unknown keys are errors, because a misspelt ``deny`` that is
silently ignored would let through what an admin meant to block. ``config/mirror.toml``
documents every key.

The file is parsed once into frozen sections, one dataclass per TOML table, whose fields are
the keys with their defaults and types. Every value is checked against its field's type when
loaded, so a wrong one stops the command with one line naming the key, before any data
directory, database or key exists, instead of failing later where the value is first used.
"""

import functools
import os
import re
import tomllib
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import Field, dataclass, field, fields, is_dataclass, replace
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import (
    Any,
    Literal,
    Protocol,
    TypeGuard,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)
from urllib.parse import urlsplit

from mirror.errors import ConfigError
from mirror.hosts import HostPort
from mirror.names import (
    is_glob,
    is_valid_glob,
    is_valid_project_name,
    normalize,
    upload_patterns,
)
from mirror.publishers import PinnedPublisher, ProvenanceMode
from mirror.scanner_rules import Condition, ConditionError, Scanner
from mirror.timeutil import parse_duration

Section = TypeVar("Section")

# "admit" is the older spelling of "first-seen": both count a file's age from the mirror's
# first sight of it when upstream gives no upload time (docs/admission.md, "Age").
MissingUploadTime = Literal["hold", "first-seen", "admit"]
AgeClock = Literal["hold", "first-seen"]
_INDEX_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _whole(default: int, *, minimum: int) -> Any:
    """A whole-number key: booleans, fractions and values below ``minimum`` are errors."""
    return field(default=default, metadata={"minimum": minimum})


def _checked(default: Any, check: Callable[[Any], None]) -> Any:
    """A key with a further check of its typed value, raising a ConfigError naming the key."""
    return field(default=default, metadata={"check": check})


def _bytes_or_off(value: Any, dotted: str) -> int:
    """A size in bytes, where ``false`` says 0: off."""
    if value is False:
        return 0
    return int(_typed(int, value, dotted, 0))


def _host_ports(value: tuple[str, ...]) -> None:
    for entry in value:
        HostPort.parse(entry)


@dataclass(frozen=True)
class IndexConfig:
    """One ``[[upstream.indexes]]`` entry: an upstream index and the projects taken from it.

    A key left out (None) takes the value of the same key in ``[upstream]``, ``[policy]`` or
    ``[provenance]``. Credentials are named here (a variable, a file), never written, and are
    read when the backends are built (``mirror.upstream.credentials``).
    """

    name: str = field(default="", metadata={"required": True})
    # None on the catch-all only: upstream.url, else pip's configured index.
    url: str | None = None
    # Normalised names and globs; None: the catch-all, every project no other index claims.
    projects: tuple[str, ...] | None = None
    quarantine: timedelta | None = None
    provenance: ProvenanceMode | None = None
    missing_upload_time: MissingUploadTime | None = None
    timeout: timedelta | None = None
    retries: int | None = field(default=None, metadata={"minimum": 0})
    allowed_hosts: tuple[str, ...] | None = _checked(None, lambda v: _host_ports(v or ()))
    integrity_url_template: str | None = None
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    token_env: str = ""
    token_file: str = ""

    @property
    def catch_all(self) -> bool:
        return self.projects is None

    def serves(self, project: str) -> bool:
        """Whether ``project`` (normalised) is routed here, when no earlier index claims it."""
        return self.projects is None or any(fnmatchcase(project, p) for p in self.projects)


@dataclass(frozen=True)
class UpstreamConfig:
    """``[upstream]``: the index proxied, and the limits put on what it sends."""

    url: str | None = None
    ttl: timedelta = timedelta(minutes=10)
    timeout: timedelta = timedelta(seconds=30)
    retries: int = _whole(2, minimum=0)
    max_page_bytes: int = _whole(64 * 1024 * 1024, minimum=1)
    max_file_bytes: int = _whole(8 * 1024**3, minimum=1)
    integrity_url_template: str = ""
    prefetch_dependencies: bool = True
    # The largest file downloaded ahead of its client (docs/performance.md); 0: none.
    download_ahead_max_bytes: int = field(
        default=64 * 1024 * 1024, metadata={"parse": _bytes_or_off}
    )
    allowed_hosts: tuple[str, ...] = _checked((), _host_ports)
    # Parsed by _indexes, not by type. Empty: one catch-all index on ``url`` (the only form
    # before several indexes existed, so such configurations read as they always did).
    indexes: tuple[IndexConfig, ...] = field(
        default=(), metadata={"parse": lambda value, dotted: _indexes(value, dotted)}
    )

    @functools.cached_property
    def routes(self) -> tuple[IndexConfig, ...]:
        """The indexes in the order a project is routed: the first that serves it wins."""
        return self.indexes or (IndexConfig(name="default"),)


@dataclass(frozen=True)
class ServerConfig:
    """``[server]``: what ``mirror serve`` listens on and runs."""

    bind: str = "127.0.0.1:8080"
    workers: int = _whole(2, minimum=1)
    threads: int = _whole(8, minimum=1)
    scheduler: bool = True
    trusted_proxies: int = _whole(0, minimum=0)


@dataclass(frozen=True)
class S3Config:
    """``[storage.s3]``: the bucket of ``storage.backend = "s3"``."""

    bucket: str = ""
    prefix: str = ""
    endpoint_url: str = ""
    region: str = ""
    presign: bool = False


@dataclass(frozen=True)
class StorageConfig:
    """``[storage]``: where blobs, the database file and TUF metadata live."""

    backend: Literal["fs", "s3"] = "fs"
    path: str = "./mirror-data"
    s3: S3Config = field(default_factory=S3Config)


@dataclass(frozen=True)
class DatabaseConfig:
    """``[database]``: the SQLAlchemy URL (unset: SQLite in the data directory) and waits."""

    url: str | None = None
    connect_timeout: timedelta = timedelta(seconds=5)
    statement_timeout: timedelta = timedelta(seconds=15)


@dataclass(frozen=True)
class ProjectPolicy:
    """Per-project overrides from ``[policy.projects.<name>]``."""

    quarantine: timedelta | None = None
    provenance: ProvenanceMode | None = None
    publisher: PinnedPublisher | None = None


@dataclass(frozen=True)
class PolicyConfig:
    """``[policy]``: quarantine, allow/deny/internal rules, and per-project overrides."""

    quarantine: timedelta = timedelta(days=7)
    missing_upload_time: MissingUploadTime = "hold"
    internal: tuple[str, ...] = ()
    allowlist_only: bool = False
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    checks_per_sync: int = _whole(20, minimum=1)
    # Keyed by normalised project name; parsed by _projects, not by type.
    projects: Mapping[str, ProjectPolicy] = field(default_factory=dict)


@dataclass(frozen=True)
class ProvenanceConfig:
    """``[provenance]``: PEP 740 attestation checks."""

    mode: ProvenanceMode = "continuity"
    offline: bool = False
    trust_root: str = ""
    max_bytes: int = _whole(1 << 20, minimum=1)


# An exchanged CI identity is meant for one job: the tokens minted for it live at most this long.
MAX_OIDC_TTL = timedelta(hours=1)
# No token lives longer, whatever its scope or --ttl says.
DEFAULT_MAX_TTL = timedelta(days=30)
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class OidcTrust:
    """One ``[[auth.oidc.trust]]`` entry: an issuer, the claims its tokens must carry, and what
    a token that matches is exchanged for (docs/review.md, "CI identity tokens")."""

    issuer: str
    claims: Mapping[str, str]
    jwks_file: str = ""
    # Parsed by the token service (mirror.services.tokens.Scope), which knows the scopes.
    scope: str = "read"
    ttl: timedelta = timedelta(minutes=15)
    # What an upload entry may publish: normalised project name patterns (trusted publishing,
    # docs/private-packages.md); empty for any other scope.
    projects: tuple[str, ...] = ()


@dataclass(frozen=True)
class OidcConfig:
    """``[auth.oidc]``: the audience accepted and the trusted issuers."""

    audience: str = "signed-mirror"
    trust: tuple[OidcTrust, ...] = field(
        default=(), metadata={"parse": lambda value, dotted: _oidc_trust(value, dotted)}
    )


@dataclass(frozen=True)
class PrivateConfig:
    """``[private]``: projects uploaded to the mirror (docs/private-packages.md)."""

    quarantine: timedelta = timedelta(0)
    max_upload_bytes: int = _whole(1024**3, minimum=1)


@dataclass(frozen=True)
class AuthConfig:
    """``[auth]``: None means "anonymous reads when bound to loopback" (Config.anonymous_read)."""

    anonymous_read: bool | None = None
    max_ttl: timedelta = DEFAULT_MAX_TTL
    oidc: OidcConfig = field(default_factory=OidcConfig)


@dataclass(frozen=True)
class TufConfig:
    """``[tuf]``: where the keys live and which signs online."""

    keys_dir: str | None = None
    online_signer: str = ""


@dataclass(frozen=True)
class SchedulerConfig:
    """``[scheduler]``: the admission/publish loop, and when /readyz calls it stuck."""

    interval: timedelta = timedelta(seconds=60)
    concurrency: int = _whole(4, minimum=1)
    max_backoff: timedelta = timedelta(hours=1)
    max_cycle_age: timedelta = timedelta(minutes=10)
    timestamp_margin: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class AuditConfig:
    """``[audit]``: how the download audit is written in batches."""

    flush_interval: timedelta = timedelta(seconds=1)
    batch_size: int = _whole(500, minimum=1)


# What a ``[[notify.webhook]]`` entry may subscribe to (docs/notifications.md).
NotifyEvent = Literal[
    "held_for_review",
    "blocked",
    "exposure",
    "advisory_match",
    "publish_failed",
    "scheduler_stalled",
]
NOTIFY_EVENTS: tuple[str, ...] = get_args(NotifyEvent)
_WEBHOOK_KEYS = frozenset({"url", "events", "secret", "name"})
_MIN_SECRET = 16


@dataclass(frozen=True)
class Webhook:
    """One ``[[notify.webhook]]`` entry: where events go and the key their HMAC is made with.
    ``name`` (default: the URL's scheme, host and port) is what the delivery log shows, so a
    URL that carries a token in its path never reaches a log or an API answer."""

    name: str
    url: str
    events: tuple[str, ...]
    secret: str = field(repr=False)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


def _named_tables(
    value: Any, dotted: str, entry: Callable[[dict[str, Any], str], _N]
) -> tuple[_N, ...]:
    """An array of tables (``[[dotted]]``), each read by ``entry``, their names distinct."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(f"{dotted} must be an array of tables ([[{dotted}]])")
    items = tuple(entry(item, f"{dotted}[{n}]") for n, item in enumerate(value))
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        raise ConfigError(f"{dotted}: two entries share a name; give each a distinct name")
    return items


def _only_keys(entry: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = set(entry) - set(allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(sorted(unknown))}")


def _webhooks(value: Any, dotted: str) -> tuple[Webhook, ...]:
    return _named_tables(value, dotted, _webhook)


def _webhook(entry: dict[str, Any], where: str) -> Webhook:
    _only_keys(entry, _WEBHOOK_KEYS, where)
    url = _typed(str, entry.get("url"), f"{where}.url", 0)
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"{where}.url must be an http or https URL with a host")
    events = _typed(tuple[str, ...], entry.get("events"), f"{where}.events", 0)
    if not events or not set(events) <= set(NOTIFY_EVENTS):
        raise ConfigError(f"{where}.events must list some of: {', '.join(NOTIFY_EVENTS)}")
    secret = entry.get("secret")
    if not isinstance(secret, str) or len(secret) < _MIN_SECRET:
        # The value itself is never repeated: it is a key.
        raise ConfigError(f"{where}.secret must be a string of at least {_MIN_SECRET} characters")
    default_name = f"{parsed.scheme}://{parsed.netloc.rpartition('@')[2]}"
    name = _typed(str, entry.get("name", default_name), f"{where}.name", 0)
    return Webhook(name=name, url=url, events=tuple(dict.fromkeys(events)), secret=secret)


@dataclass(frozen=True)
class NotifyConfig:
    """``[notify]``: webhooks, and how their deliveries are retried."""

    webhook: tuple[Webhook, ...] = field(default=(), metadata={"parse": _webhooks})
    poll_interval: timedelta = timedelta(seconds=5)
    timeout: timedelta = timedelta(seconds=10)
    max_attempts: int = _whole(10, minimum=1)
    retry_base: timedelta = timedelta(seconds=30)
    retry_max: timedelta = timedelta(hours=1)


_SCANNER_KEYS = frozenset({"name", "command", "timeout", "max_output", "hold_on"})
_SCANNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _scanners(value: Any, dotted: str) -> tuple[Scanner, ...]:
    return _named_tables(value, dotted, _scanner)


def _scanner(entry: dict[str, Any], where: str) -> Scanner:
    _only_keys(entry, _SCANNER_KEYS, where)
    name = _typed(str, entry.get("name"), f"{where}.name", 0)
    if not _SCANNER_NAME.fullmatch(name):
        raise ConfigError(f"{where}.name must be 1 to 64 letters, digits, '.', '_' or '-'")
    # A list, never a string: nothing is split or handed to a shell.
    command = _typed(tuple[str, ...], entry.get("command"), f"{where}.command", 0)
    if not command or not command[0]:
        raise ConfigError(f"{where}.command must be a non-empty list of strings")
    timeout = _duration(entry.get("timeout", "60s"), f"{where}.timeout")
    if timeout <= timedelta(0):
        raise ConfigError(f"{where}.timeout must be longer than zero")
    max_output = _typed(int, entry.get("max_output", 1 << 20), f"{where}.max_output", 1)
    texts = _typed(tuple[str, ...], entry.get("hold_on", []), f"{where}.hold_on", 0)
    try:
        hold_on = tuple(Condition.parse(text) for text in texts)
    except ConditionError as exc:
        raise ConfigError(f"{where}.hold_on: {exc}") from exc
    return Scanner(name, command, timeout.total_seconds(), max_output, hold_on)


@dataclass(frozen=True)
class ChecksConfig:
    """``[checks]``: external scanners run on every inspected candidate file (docs/admission.md,
    "External scanners")."""

    external: tuple[Scanner, ...] = field(default=(), metadata={"parse": _scanners})


@dataclass(frozen=True)
class DebugConfig:
    """``[debug]``: for tests and drills only."""

    clock_offset: timedelta = timedelta(0)


@dataclass(frozen=True)
class Config:
    """The whole configuration, validated: one typed section per TOML table."""

    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    provenance: ProvenanceConfig = field(default_factory=ProvenanceConfig)
    private: PrivateConfig = field(default_factory=PrivateConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    tuf: TufConfig = field(default_factory=TufConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    debug: DebugConfig = field(default_factory=DebugConfig)
    # Not a key: the file read ("defaults" when none was), so child processes read it too.
    source: str = field(default="defaults", metadata={"not_a_key": True})

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.path).expanduser().resolve()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'mirror.db'}"

    @property
    def keys_dir(self) -> Path:
        configured = self.tuf.keys_dir
        return Path(configured).expanduser().resolve() if configured else self.data_dir / "keys"

    @property
    def loopback_bind(self) -> bool:
        """Whether the server listens on this machine only (no TLS needed in front of it)."""
        host = self.server.bind.rsplit(":", 1)[0].strip("[]")
        return host in {"127.0.0.1", "localhost", "::1"}

    @property
    def anonymous_read(self) -> bool:
        configured = self.auth.anonymous_read
        return self.loopback_bind if configured is None else configured

    def index_for(self, project: str) -> IndexConfig | None:
        """The one index ``project`` (normalised) is taken from; None when none serves it. A
        project is never looked up in a second index, whatever the first one answers."""
        return next((index for index in self.upstream.routes if index.serves(project)), None)

    def quarantine_for(self, project: str, *, private: bool = False) -> timedelta:
        """``[policy.projects.<name>] quarantine``, else the private default for an uploaded
        project, else its index's, else the proxied default."""
        override = self.policy.projects.get(project)
        if override and override.quarantine is not None:
            return override.quarantine
        if private:
            return self.private.quarantine
        index = self.index_for(project)
        if index and index.quarantine is not None:
            return index.quarantine
        return self.policy.quarantine

    def provenance_mode_for(self, project: str, *, private: bool = False) -> ProvenanceMode:
        """Private projects have no upstream to fetch attestations from: "off"."""
        if private:
            return "off"
        override = self.policy.projects.get(project)
        if override and override.provenance:
            return override.provenance
        index = self.index_for(project)
        if index and index.provenance:
            return index.provenance
        return self.provenance.mode

    def age_clock_for(self, project: str) -> AgeClock:
        """What a file of ``project`` without an upstream upload time is aged by: nothing (held
        for review), or the mirror's first sight of it."""
        index = self.index_for(project)
        configured = (index and index.missing_upload_time) or self.policy.missing_upload_time
        return "hold" if configured == "hold" else "first-seen"

    def integrity_url_template_for(self, project: str) -> str:
        index = self.index_for(project)
        if index and index.integrity_url_template is not None:
            return index.integrity_url_template
        return self.upstream.integrity_url_template

    def publisher_for(self, project: str) -> PinnedPublisher | None:
        """The pinned Trusted Publisher of ``[policy.projects.<name>] publisher``, if any."""
        override = self.policy.projects.get(project)
        return override.publisher if override else None

    def pinned_publisher_key(self, project: str) -> str | None:
        """The pinned publisher as one string (environment included); evidence records it."""
        pinned = self.publisher_for(project)
        if pinned is None:
            return None
        return pinned.identity + (f"#{pinned.environment}" if pinned.environment else "")


def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Load, merge and validate the configuration.

    Raises:
        ConfigError: the file is unreadable or malformed, or a key or value is invalid.
    """
    env = os.environ if env is None else env
    file_path = _config_path(path, env)
    data = _read_toml(file_path) if file_path else {}
    _apply_env(data, env)
    config = replace(_section(Config, data, ""), source=str(file_path or "defaults"))
    _check_together(config)
    return config


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


def _keys(section: type[Any]) -> list[Field[Any]]:
    return [f for f in fields(section) if not f.metadata.get("not_a_key")]


def _is_table(kind: Any) -> TypeGuard[type[Any]]:
    """Whether a field is a TOML table of its own (``storage.s3``), parsed as a section."""
    return isinstance(kind, type) and is_dataclass(kind)


def key_types(section: type[Any] = Config, prefix: str = "") -> dict[str, Any]:
    """Every key by dotted name (``storage.s3.bucket``), tables expanded, with its type."""
    hints = get_type_hints(section)
    found: dict[str, Any] = {}
    for key in _keys(section):
        kind = hints[key.name]
        if _is_table(kind):
            found.update(key_types(kind, f"{prefix}{key.name}."))
        else:
            found[prefix + key.name] = kind
    return found


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for dotted, kind in key_types().items():
        name = "MIRROR_" + dotted.replace(".", "_").upper()
        if name not in env:
            continue
        *tables, key = dotted.split(".")
        target = data
        for table in tables:
            target = target.setdefault(table, {})
            if not isinstance(target, dict):
                raise ConfigError(f"config key {table!r} must be a table")
        target[key] = _parse_env_value(env[name], kind)


def _parse_env_value(text: str, kind: Any) -> Any:
    # TOML literal syntax lets one variable carry a list, a bool or a number; anything else is
    # taken as a plain string so URLs and paths need no quoting, and a string key takes the
    # text as written even when it would read as a number.
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    return text if str in _alternatives(kind) and not isinstance(value, str) else value


def _alternatives(kind: Any) -> tuple[Any, ...]:
    """The types a field accepts: ``str | None`` is (str, None), ``str`` is (str,)."""
    if get_origin(kind) in (Union, types.UnionType):
        return get_args(kind)
    return (kind,)


def _section(section: type[Section], data: Mapping[str, Any], prefix: str) -> Section:
    known = {key.name: key for key in _keys(section)}
    for name in data:
        if name not in known:
            raise ConfigError(f"unknown config key {prefix + name!r}")
    for name, key in known.items():
        if key.metadata.get("required") and name not in data:
            raise ConfigError(f"config key {prefix + name!r} is required")
    hints = get_type_hints(section)
    values = {
        name: _value(hints[name], known[name], data[name], prefix + name)
        for name in known
        if name in data
    }
    return section(**values)


def _value(kind: Any, key: Field[Any], value: Any, dotted: str) -> Any:
    if dotted == "policy.projects":
        return _projects(value)
    parse = key.metadata.get("parse")
    if parse is not None:
        return parse(value, dotted)
    if _is_table(kind):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {dotted!r} must be a table")
        return _section(kind, value, dotted + ".")
    typed = _typed(kind, value, dotted, key.metadata.get("minimum", 0))
    check = key.metadata.get("check")
    if check is not None:
        check(typed)
    return typed


def _typed(kind: Any, value: Any, dotted: str, minimum: int) -> Any:
    alternatives = _alternatives(kind)
    if value is None and type(None) in alternatives:
        return None
    kind = next(k for k in alternatives if k is not type(None))
    if kind is bool:
        return _expect(value, isinstance(value, bool), dotted, "true or false")
    if kind is int:
        whole = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
        return _expect(value, whole, dotted, f"a whole number of at least {minimum}")
    if kind is str:
        return _expect(value, isinstance(value, str), dotted, "a string")
    if kind is timedelta:
        return _duration(value, dotted)
    if get_origin(kind) is Literal:
        choices = get_args(kind)
        wanted = "one of: " + ", ".join(f'"{c}"' for c in choices)
        return _expect(value, value in choices, dotted, wanted)
    if kind == tuple[str, ...]:
        strings = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(_expect(value, strings, dotted, "a list of strings"))
    raise TypeError(f"{dotted}: no parser for {kind}")


def _expect(value: Any, ok: bool, dotted: str, wanted: str) -> Any:
    if not ok:
        raise ConfigError(f"{dotted} must be {wanted}, not {value!r}")
    return value


def _duration(value: Any, dotted: str) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f'{dotted} must be a duration such as "7d", "36h" or "90m"')
    try:
        return parse_duration(value)
    except ConfigError as exc:
        raise ConfigError(f"{dotted}: {exc}") from exc


def _check_together(config: Config) -> None:
    """Rules that join two keys."""
    if config.storage.backend == "s3" and not config.storage.s3.bucket:
        raise ConfigError("storage.backend is s3 but storage.s3.bucket is empty")
    if config.auth.max_ttl <= timedelta(0):
        raise ConfigError("auth.max_ttl must be longer than zero")


def _projects(value: Any) -> dict[str, ProjectPolicy]:
    if not isinstance(value, dict):
        raise ConfigError("config key 'policy.projects' must be a table")
    return {normalize(name): _project_policy(name, values) for name, values in value.items()}


def _project_policy(name: str, values: Any) -> ProjectPolicy:
    if not is_valid_project_name(name) or not isinstance(values, dict):
        raise ConfigError(f"policy.projects.{name} must be a table named after a project")
    unknown = set(values) - {f.name for f in fields(ProjectPolicy)}
    if unknown:
        raise ConfigError(f"unknown key(s) in policy.projects.{name}: {', '.join(sorted(unknown))}")
    where = f"policy.projects.{name}"
    mode = _typed(ProvenanceMode | None, values.get("provenance"), f"{where}.provenance", 0)
    if mode == "required" and not values.get("publisher"):
        raise ConfigError(f'policy.projects.{name}: provenance "required" needs a publisher')
    quarantine = values.get("quarantine")
    return ProjectPolicy(
        quarantine=None if quarantine is None else _duration(quarantine, f"{where}.quarantine"),
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


def _oidc_trust(value: Any, dotted: str) -> tuple[OidcTrust, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{dotted} must be a list of tables ([[{dotted}]])")
    return tuple(_trust_entry(index, entry) for index, entry in enumerate(value))


def _trust_entry(index: int, entry: Any) -> OidcTrust:
    where = f"auth.oidc.trust[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    _only_keys(entry, {f.name for f in fields(OidcTrust)}, where)
    issuer = _typed(str, entry.get("issuer"), f"{where}.issuer", 0)
    if not issuer.startswith("https://") and not _is_loopback_url(issuer):
        raise ConfigError(f"{where}.issuer must be an https:// URL")
    claims = entry.get("claims")
    # A public CI's issuer signs tokens for everyone who uses that CI: without a claim to
    # match, any of them could mint a token.
    if not isinstance(claims, dict) or not claims:
        raise ConfigError(f"{where}.claims must be a table of at least one claim = glob")
    for name, pattern in claims.items():
        _typed(str, pattern, f"{where}.claims.{name}", 0)
    ttl = _duration(entry.get("ttl", "15m"), f"{where}.ttl")
    if not timedelta(0) < ttl <= MAX_OIDC_TTL:
        raise ConfigError(f"{where}.ttl must be longer than zero and at most 1h")
    scope = _typed(str, entry.get("scope", "read"), f"{where}.scope", 0)
    return OidcTrust(
        issuer=issuer,
        claims=dict(claims),
        jwks_file=_typed(str, entry.get("jwks_file", ""), f"{where}.jwks_file", 0),
        scope=scope,
        ttl=ttl,
        projects=_trust_projects(where, scope, entry.get("projects", [])),
    )


def _trust_projects(where: str, scope: str, value: Any) -> tuple[str, ...]:
    """An entry's upload patterns, by the rule upload tokens follow (``upload_patterns``);
    the scope is spelt as ``mirror.services.tokens.Scope.parse`` reads it."""
    projects = _typed(tuple[str, ...], value, f"{where}.projects", 0)
    try:
        return upload_patterns(projects, upload=scope.lower() == "upload")
    except ValueError as exc:
        raise ConfigError(f"{where}.projects: {exc}") from exc


def _is_loopback_url(url: str) -> bool:
    """An http:// URL on this machine: a test issuer, or one behind a local proxy."""
    host = url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)[0]
    return url.startswith("http://") and host in _LOOPBACK_HOSTS


def _indexes(value: Any, dotted: str) -> tuple[IndexConfig, ...]:
    """``[[upstream.indexes]]``: each entry checked alone, then the order they route in."""
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise ConfigError(f"config key {dotted!r} must be a list of tables")
    indexes = tuple(_index(position, entry) for position, entry in enumerate(value))
    names = [index.name for index in indexes]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"upstream.indexes: two indexes are named {name!r}")
    catch_alls = [index.name for index in indexes if index.catch_all]
    if len(catch_alls) > 1:
        raise ConfigError(
            f"upstream.indexes: {' and '.join(catch_alls)} both have no `projects`; "
            "only one index may take every other project"
        )
    if catch_alls and not indexes[-1].catch_all:
        raise ConfigError(
            f"upstream.indexes: {catch_alls[0]} has no `projects` and must come last "
            "(the indexes after it would never be asked)"
        )
    return indexes


def _index(position: int, entry: dict[str, Any]) -> IndexConfig:
    name = entry.get("name")
    where = (
        f"upstream.indexes[{name}]" if isinstance(name, str) else f"upstream.indexes[{position}]"
    )
    index = _section(IndexConfig, entry, where + ".")
    if not _INDEX_NAME.fullmatch(index.name):
        raise ConfigError(f"{where}.name must be letters, digits and . _ - (at most 64)")
    if index.projects is not None:
        index = replace(index, projects=tuple(_route(where, p) for p in index.projects))
        if index.url is None:
            raise ConfigError(
                f"{where} needs a url (only the index without `projects` may omit it)"
            )
    if index.url is not None:
        _check_index_url(where, index.url)
    _check_credentials(where, index)
    return index


def _route(where: str, entry: str) -> str:
    """One ``projects`` entry as a normalised name or glob."""
    if is_glob(entry) and is_valid_glob(entry):
        return normalize(entry)
    if not is_glob(entry) and is_valid_project_name(entry):
        return normalize(entry)
    raise ConfigError(
        f"{where}.projects: {entry!r} is neither a project name nor a glob of name "
        "characters and * ? [ ] !"
    )


def _check_index_url(where: str, url: str) -> None:
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"{where}.url must be an http(s) URL")
    if parsed.username is not None or parsed.password is not None:
        # A URL is written into logs and error messages; a secret inside it would be too.
        raise ConfigError(
            f"{where}.url must not carry credentials: use username with password_env or "
            "password_file, or token_env or token_file"
        )


def _check_credentials(where: str, index: IndexConfig) -> None:
    password = [key for key in ("password_env", "password_file") if getattr(index, key)]
    token = [key for key in ("token_env", "token_file") if getattr(index, key)]
    if len(password) + len(token) > 1:
        raise ConfigError(f"{where}: set one of {', '.join(password + token)}, not several")
    if password and not index.username:
        raise ConfigError(f"{where}: {password[0]} needs a username")
    if index.username and not password:
        raise ConfigError(f"{where}: username needs password_env or password_file")
