"""The light client, signed-mirror-client (docs/tuf.md, "The light client"): installed into an
empty environment by the one documented command from its own hash-locked set, it has none of
the server's dependencies and runs a real `mirror install` against a running mirror."""

import subprocess
import sys
from pathlib import Path

import pytest
import urllib3

from mirror.upstream.location import default_upstream
from tests.e2e.test_lock_install import EXPECTED, Lab, distributions, python, uv_lock
from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import client_env

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "client"))
import build_client  # noqa: E402  (the client's build backend, in client/)

# The command README.md, docs/tuf.md and docs/ci-recipes.md give, run from a checkout.
DOCUMENTED = (
    "pip install --require-hashes -r requirements/client.txt && pip install --no-deps ./client"
)
SERVER_ONLY = ["flask", "sqlalchemy", "gunicorn", "boto3", "psycopg", "sigstore", "alembic",
               "pypi_attestations", "jwt", "prometheus_client"]  # fmt: skip

# The server's modules and packages (pyproject.toml's "light-client" contract forbids them).
SERVER_PARTS = [
    ["mirror", part]
    for part in ("cli", "config", "app", "server", "scheduler", "services", "web", "db",
                 "storage", "upstream", "checks", "policy", "advisories")
]  # fmt: skip


def test_the_docs_give_the_one_command() -> None:
    for doc in ("README.md", "docs/tuf.md", "docs/ci-recipes.md"):
        text = (ROOT / doc).read_text()
        assert DOCUMENTED in text, doc
        assert "pip install signed-mirror\n" not in text, doc


def test_the_client_wheel_holds_the_pipeline_and_none_of_the_server() -> None:
    found = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in build_client.modules(["mirror.pipeline.cli"])
    }
    assert {"mirror.pipeline.install", "mirror.pipeline.lock_identities", "tuf_repo.client"} <= (
        found
    )
    server = [name for name in found if name.split(".")[:2] in SERVER_PARTS]
    assert server == []


@pytest.fixture
def lab(start_mirror, tree: FakeUpstream, tmp_path: Path) -> Lab:  # type: ignore[no-untyped-def]
    return Lab(start_mirror(server={"scheduler": False}), tmp_path, list(EXPECTED))


def install_light_client(venv: Path) -> None:
    """The documented command, into ``venv``; skipped where the lock's index is unreachable."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = client_env(PATH=f"{venv / 'bin'}:/usr/bin:/bin")
    done = subprocess.run(
        ["bash", "-c", DOCUMENTED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        try:
            urllib3.request("GET", default_upstream({}), timeout=5, retries=False)
        except urllib3.exceptions.HTTPError as exc:
            pytest.skip(f"the index requirements/client.txt resolves from is unreachable: {exc}")
    assert done.returncode == 0, done.stderr


@pytest.mark.slow  # pip installs the client's lock, then `mirror install` runs
def test_the_light_client_installs_a_lock_with_none_of_the_server(lab: Lab, tmp_path: Path) -> None:
    client = tmp_path / "light-client"
    install_light_client(client)
    found = subprocess.run(
        [python(client), "-c", "import importlib.util as u, sys\n"
         "print(' '.join(m for m in sys.argv[1:] if u.find_spec(m)))", *SERVER_ONLY],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert found.stdout.split() == []

    lock = uv_lock(lab)
    venv = lab.venv()
    result = subprocess.run(
        [client / "bin" / "mirror", "install", "-r", str(lock), "--python", str(python(venv)),
         "--index-url", lab.mirror.index_url, "--root", str(lab.root),
         "--tuf-cache", str(tmp_path / "tuf")],
        env=client_env(), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert distributions(venv) == EXPECTED
