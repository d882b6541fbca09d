"""A `mirror serve` process the tests started (the start_mirror fixture in tests/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

from .config_files import base_sections, merge, write_config
from .ports import free_port
from .processes import client_env


@dataclass
class RunningMirror:
    url: str
    config_path: Path
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def index_url(self) -> str:
        return f"{self.url}/simple/"

    def cli(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a `mirror` command against this mirror's config."""
        result = subprocess.run(
            [sys.executable, "-m", "mirror", "--config", str(self.config_path), *args],
            env=client_env(**(env or {})),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"mirror {' '.join(args)} failed: {result.stderr}")
        return result

    def get(self, path: str, **kw: Any) -> urllib3.BaseHTTPResponse:
        return urllib3.request("GET", self.url + path, timeout=30, retries=False, **kw)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def access_lines(self, path: str, count: int = 1, seconds: float = 10) -> list[Any]:
        """The access log's entries for ``path`` once ``count`` are written (the workers write
        them in batches, about half a second late), or all there are after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            entries = [
                json.loads(line)
                for line in self.logs().splitlines()
                if line.startswith("{") and '"method"' in line
            ]
            found = [entry for entry in entries if entry["path"] == path]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def wait_ready(self) -> None:
        """Return once /healthz answers 200; fail with the log if the process exits or 30
        seconds pass first."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"mirror serve exited early:\n{self.logs()[-4000:]}")
            try:
                if self.get("/healthz").status == 200:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"mirror serve did not become ready:\n{self.logs()[-4000:]}")


def launch(
    work: Path,
    upstream_url: str,
    *,
    label: str = "mirror-0",
    data_dir: Path | None = None,
    env: dict[str, str] | None = None,
    **sections: dict[str, Any],
) -> RunningMirror:
    """Start `mirror serve` (gunicorn, two workers) on a free loopback port, its config, log and
    data (unless ``data_dir``) named ``label`` under ``work``. The caller waits for it
    (``wait_ready``) and stops it (``processes.stop_process``), even when it never became
    ready. Keyword args are config sections."""
    data_dir = data_dir or work / label
    port = free_port()
    config = merge(
        base_sections(data_dir, upstream_url),
        {"server": {"bind": f"127.0.0.1:{port}", "workers": 2}},
    )
    config_path = write_config(work / f"{label}.toml", merge(config, sections))
    log_path = work / f"{label}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mirror", "--config", str(config_path), "serve"],
            env=client_env(**(env or {})),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RunningMirror(f"http://127.0.0.1:{port}", config_path, data_dir, process, log_path)
