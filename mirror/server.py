"""`mirror serve`: initialise, then run gunicorn (and the scheduler beside it).

gunicorn's settings are built here from the mirror's config; ``config/gunicorn.conf.py`` loads
the same settings for deployments that start gunicorn themselves.
"""

import atexit
import gc
import logging
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from mirror.access_log import JsonAccessLogger
from mirror.config import Config
from mirror.db.engine import check_connection, make_engine, migrate
from mirror.errors import ConfigError, MirrorError
from mirror.services import publish, signing
from mirror.services.backends import policy_rules
from mirror.storage import open_blob_store
from mirror.supervision import SupervisingArbiter, Supervisor
from mirror.timeutil import Clock

log = logging.getLogger(__name__)


def gunicorn_settings(
    config: Config, bind: str | None = None, workers: int | None = None
) -> dict[str, Any]:
    return {
        "bind": bind or config.server.bind,
        "workers": workers or config.server.workers,
        # Threads let one worker stream large files to slow clients while answering others;
        # gthread, listening only while a thread is free (mirror/balanced_worker.py).
        "worker_class": "mirror.balanced_worker.BalancedThreadWorker",
        "threads": config.server.threads,
        # A first download of a multi-GB file can take minutes before the first byte.
        "timeout": 600,
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": "-",
        "errorlog": "-",
        "logger_class": JsonAccessLogger,
        "proc_name": "signed-mirror",
        "post_worker_init": _freeze_startup_heap,
        # gunicorn's control socket defaults to one path per user (~/.gunicorn): two mirrors on
        # a host would take it from each other, and it is a way to stop workers that the
        # mirror neither needs nor documents.
        "control_socket_disable": True,
    }


def _freeze_startup_heap(worker: Any) -> None:
    """Keep what a worker built at startup (libraries, the app) out of the collector's full
    passes: a first look allocates tens of thousands of objects, and each full collection
    would scan the whole startup heap again (docs/performance.md)."""
    gc.freeze()


class MirrorApplication(BaseApplication):  # type: ignore[misc]
    def __init__(
        self, config: Config, settings: dict[str, Any], supervisor: Supervisor | None = None
    ) -> None:
        self.mirror_config = config
        self.settings = settings
        self.supervisor = supervisor
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from mirror.app import create_app
        from mirror.logs import setup_logging

        setup_logging()
        return create_app(self.mirror_config)

    def run(self) -> None:
        try:
            if self.supervisor is None:
                Arbiter(self).run()
            else:
                SupervisingArbiter(self, self.supervisor).run()
        except RuntimeError as exc:
            raise MirrorError(f"gunicorn could not start: {exc}") from exc


def initialise(config: Config, *, tuf: bool = True) -> None:
    """First start creates the data directory, the database schema and (with ``tuf``) the TUF
    keys and repository; later starts check them. The policy rules are parsed first: the
    configuration module cannot (policy is a layer above it), and a bad rule must stop the
    start before anything is created.

    Raises:
        ConfigError: a policy rule is malformed.
        StorageError: the blob store or the database is unreachable or misconfigured.
    """
    policy_rules(config)
    open_blob_store(config).check()
    engine = make_engine(config.database_url)
    check_connection(engine)
    migrate(engine)
    if tuf and signing.ensure_repository(config, engine):
        clock = Clock(config.debug.clock_offset)
        publish.queue_all_projects(engine, open_blob_store(config), clock.now())
    engine.dispose()


def check_port_free(bind: str) -> None:
    host, _, port = bind.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"invalid bind address {bind!r} (expected HOST:PORT)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), int(port)))
        except OSError as exc:
            raise MirrorError(f"cannot listen on {bind}: {exc.strerror}") from exc


def _metrics_dir() -> str:
    """A new private folder for the workers' metrics files, in memory where the system has it.

    prometheus_client maps these files and grows them as sparse files: on a full file system
    the first write to a page not yet backed kills the process with SIGBUS. In the data
    directory, a full data disk killed every worker, and with them reads of pages and TUF
    metadata (docs/deployment.md, "A full disk").
    """
    shm = Path("/dev/shm")
    path = tempfile.mkdtemp(prefix="signed-mirror-metrics-", dir=shm if shm.is_dir() else None)
    atexit.register(_remove_in, os.getpid(), path)
    return path


def _remove_in(owner: int, path: str) -> None:
    """Remove ``path`` when the process that made it exits (not its forked workers)."""
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


def serve(config: Config, bind: str | None = None, workers: int | None = None) -> None:
    """Run gunicorn, and the scheduler beside it under supervision.

    Raises:
        MirrorError: the scheduler kept exiting: gunicorn was stopped, so no half-alive
            mirror answers requests without admitting, publishing or re-signing.
    """
    settings = gunicorn_settings(config, bind, workers)
    # A scaled-out node (no scheduler, shared S3 store) never creates TUF keys: the worker,
    # which holds the online key, bootstraps the repository; the node serves what it signed.
    scaled_node = not config.server.scheduler and config.storage.backend == "s3"
    initialise(config, tuf=not scaled_node)
    check_port_free(settings["bind"])
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir()
    supervisor = Supervisor(_scheduler_command(config)) if config.server.scheduler else None
    master = os.getpid()
    try:
        MirrorApplication(config, settings, supervisor).run()
    finally:
        # gunicorn's workers are forked inside run() and leave it by SystemExit, through this
        # very block: only the master stops the scheduler and reports why it gave up.
        if supervisor is not None and os.getpid() == master:
            supervisor.stop()
            if supervisor.failure is not None:
                raise MirrorError(supervisor.failure)


def _scheduler_command(config: Config) -> list[str]:
    config_args = ["--config", config.source] if config.source != "defaults" else []
    return [sys.executable, "-m", "mirror", *config_args, "worker"]
