"""`mirror install` from the locks teams commit, written here by the real tools (uv, Poetry,
pip) against a running mirror, into a fresh virtual environment named with --python, while
the client's own environment stays exactly as it was (docs/tuf.md, "Pipelines")."""

import hashlib
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import flit_core
import pytest

from mirror.pipeline.offline import unavailable_reason
from tests.e2e.conftest import poetry_project
from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import client_env
from tests.support.running_mirror import RunningMirror
from tests.support.shared_fixtures import fixtures_dir

pytestmark = pytest.mark.slow  # runs uv, poetry, pip and `mirror install`

LIB_B = "lib_b-0.5-py3-none-any.whl"
EXPECTED = {"app-pkg": "1.0", "lib-a": "1.0", "lib-b": "0.5"}
ATTESTED = "gitlab-oidc-project"
ATTESTED_SDIST = "gitlab_oidc_project-0.0.3.tar.gz"
GITLAB = 'kind = "GitLab"\nrepository = "facutuesca/gitlab-oidc-project"\n'


def run(args: list[str], cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=client_env(**env), capture_output=True, text=True, timeout=240
    )


class Lab:
    """A mirror with its pinned root, and `mirror install` into fresh environments."""

    def __init__(self, mirror: RunningMirror, tmp_path: Path, projects: list[str]) -> None:
        self.mirror = mirror
        self.tmp = tmp_path
        for project in projects:  # first requests sign the pages
            assert mirror.get(f"/simple/{project}/").status == 200
        mirror.cli("sync")  # and, as a worker would, the files' targets they queued
        self.root = tmp_path / "root.json"
        self.root.write_text(mirror.cli("keys", "export-root").stdout)
        self.venvs = 0

    def venv(self) -> Path:
        self.venvs += 1
        path = self.tmp / f"venv-{self.venvs}"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
        return path

    def mirror_command(self, command: str, lock: Path, *args: str) -> list[str]:
        file_option = [] if command == "lock-identities" else ["-r"]
        return [
            sys.executable, "-m", "mirror", command, *file_option, str(lock),
            "--index-url", self.mirror.index_url, "--root", str(self.root),
            "--tuf-cache", str(self.tmp / "tuf"), *args,
        ]  # fmt: skip

    def install(self, lock: Path, venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return run(self.mirror_command("install", lock, "--python", str(python(venv)), *args))


def python(venv: Path) -> Path:
    return venv / "bin" / "python"


def distributions(venv: Path) -> dict[str, str]:
    found = {}
    for info in venv.glob("lib/python*/site-packages/*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[name.replace("_", "-").lower()] = version
    return found


def client_packages() -> str:
    """The client's own environment, as pip freeze lists it."""
    listed = run([sys.executable, "-m", "pip", "freeze", "--all"])
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


@pytest.fixture
def lab(start_mirror, tree: FakeUpstream, tmp_path: Path) -> Lab:  # type: ignore[no-untyped-def]
    return Lab(start_mirror(server={"scheduler": False}), tmp_path, list(EXPECTED))


def uv_project(tmp_path: Path, index_url: str, dependency: str = "app-pkg") -> Path:
    project = tmp_path / "uv-project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "consumer"\nversion = "0"\nrequires-python = ">=3.11"\n'
        f'dependencies = ["{dependency}"]\n\n'
        f'[[tool.uv.index]]\nname = "mirror"\nurl = "{index_url}"\ndefault = true\n'
    )
    return project


def uv(project: Path, *args: str) -> None:
    done = run(["uv", *args, "--no-cache", "--python", sys.executable], cwd=project)
    assert done.returncode == 0, done.stderr


def uv_lock(lab: Lab) -> Path:
    project = uv_project(lab.tmp, lab.mirror.index_url)
    uv(project, "lock")
    return project / "uv.lock"


def uv_pylock(lab: Lab) -> Path:
    project = uv_project(lab.tmp, lab.mirror.index_url)
    uv(project, "export", "--format", "pylock.toml", "-o", "pylock.toml", "--no-emit-project")
    return project / "pylock.toml"


def uv_requirements(lab: Lab) -> Path:
    project = uv_project(lab.tmp, lab.mirror.index_url)
    uv(project, "export", "--format", "requirements-txt", "-o", "requirements.txt",
       "--no-emit-project")  # fmt: skip
    return project / "requirements.txt"


def poetry_lock(lab: Lab) -> Path:
    project, env = poetry_project(lab.tmp, lab.mirror.index_url)
    locked = run(["poetry", "lock"], cwd=project, **env)
    assert locked.returncode == 0, locked.stderr
    return project / "poetry.lock"


def pip_lock(lab: Lab) -> Path:
    version = run([sys.executable, "-m", "pip", "--version"]).stdout.split()[1]
    if tuple(int(part) for part in version.split(".")[:2]) < (25, 1):
        pytest.skip(f"`pip lock` needs pip 25.1 or later; this environment has pip {version}")
    out = lab.tmp / "pip" / "pylock.toml"
    out.parent.mkdir()
    locked = run([sys.executable, "-m", "pip", "lock", "--index-url", lab.mirror.index_url,
                  "-o", str(out), "app-pkg==1.0"])  # fmt: skip
    assert locked.returncode == 0, locked.stderr
    return out


PRODUCERS = [uv_lock, uv_pylock, uv_requirements, poetry_lock, pip_lock]


@pytest.mark.parametrize("produce", PRODUCERS, ids=lambda p: p.__name__)
def test_a_lock_installs_into_the_named_environment_only(lab: Lab, produce) -> None:  # type: ignore[no-untyped-def]
    lock = produce(lab)
    venv = lab.venv()
    before = client_packages()
    result = lab.install(lock, venv)
    assert result.returncode == 0, result.stderr
    assert f"target: {python(venv)}" in result.stdout
    assert distributions(venv) == EXPECTED
    assert client_packages() == before


@pytest.mark.parametrize("produce", PRODUCERS, ids=lambda p: p.__name__)
def test_a_lock_with_one_tampered_hash_is_refused(lab: Lab, produce) -> None:  # type: ignore[no-untyped-def]
    lock = produce(lab)
    signed = hashlib.sha256(lab.mirror.get(f"/packages/lib-b/{LIB_B}").data).hexdigest()
    text = lock.read_text()
    assert signed in text
    tampered = "0" * 64
    lock.write_text(text.replace(signed, tampered))
    venv = lab.venv()
    result = lab.install(lock, venv)
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]
    assert f"lib-b==0.5: sha256 mismatch: lock says {tampered}, the mirror signs {signed}" in error
    assert "nothing installed" in error
    assert distributions(venv) == {}


def test_the_default_target_is_never_the_clients_own_environment(lab: Lab) -> None:
    lock = uv_lock(lab)
    before = client_packages()
    # client_env puts the client's own bin folder first on PATH: python3 there is mirror's.
    result = run(lab.mirror_command("install", lock))
    assert result.returncode != 0
    assert "is mirror's own environment; name the environment to install into" in result.stderr
    assert client_packages() == before


def test_target_folder_and_a_version_upstream_never_had(lab: Lab) -> None:
    requirements = lab.tmp / "requirements.txt"
    requirements.write_text("app-pkg==1.0\nlib-a==1.0\nlib-b==0.5\n")
    folder = lab.tmp / "site"
    result = lab.install(requirements, lab.venv(), "--target", str(folder))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in folder.glob("*.dist-info")} == {
        "app_pkg-1.0.dist-info", "lib_a-1.0.dist-info", "lib_b-0.5.dist-info",
    }  # fmt: skip
    requirements.write_text("lib-b==9.9\n")
    result = lab.install(requirements, lab.venv())
    assert "lib-b==9.9: no such version upstream" in result.stderr


# --- publisher identities (real PEP 740 provenance) ----------------------------------------


@pytest.fixture
def attested_lab(start_mirror, fake_upstream: FakeUpstream, tmp_path: Path) -> Lab:  # type: ignore[no-untyped-def]
    pep740 = fixtures_dir("pep740")
    fake_upstream.add_file(
        ATTESTED,
        (pep740 / ATTESTED_SDIST).read_bytes(),
        filename=ATTESTED_SDIST,
        upload_time=datetime(2024, 11, 19, 12, 0, tzinfo=UTC),
        provenance=(pep740 / f"{ATTESTED_SDIST}.provenance.json").read_bytes(),
    )
    mirror = start_mirror(server={"scheduler": False}, provenance={"offline": True})
    return Lab(mirror, tmp_path, [ATTESTED])


def builder_venv(lab: Lab) -> Path:
    """A fresh environment with the sdist's build backend, so pip builds it offline."""
    venv = lab.venv()
    [site] = venv.glob("lib/python*/site-packages")
    shutil.copytree(Path(flit_core.__file__).parent, site / "flit_core")
    return venv


def attested_pylock(lab: Lab) -> Path:
    project = uv_project(lab.tmp, lab.mirror.index_url, f"{ATTESTED}==0.0.3")
    uv(project, "export", "--format", "pylock.toml", "-o", "pylock.toml", "--no-emit-project")
    return project / "pylock.toml"


def test_lock_identities_fills_a_uv_lock_and_install_enforces_them(attested_lab: Lab) -> None:
    lock = attested_pylock(attested_lab)
    assert "attestation-identities" not in lock.read_text()
    filled = run(attested_lab.mirror_command("lock-identities", lock))
    assert filled.returncode == 0, filled.stderr
    text = lock.read_text()
    assert f"[[packages.attestation-identities]]\n{GITLAB}" in text
    assert 'workflow_filepath = ".gitlab-ci.yml"' in text
    venv = builder_venv(attested_lab)
    result = attested_lab.install(lock, venv, "--allow-sdist", "--", "--no-build-isolation")
    assert result.returncode == 0, result.stderr
    assert distributions(venv)[ATTESTED] == "0.0.3"

    lock.write_text(text.replace("facutuesca/gitlab-oidc-project", "evil/fork"))
    venv = builder_venv(attested_lab)
    result = attested_lab.install(lock, venv, "--allow-sdist", "--", "--no-build-isolation")
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]
    assert f"{ATTESTED}==0.0.3: {ATTESTED_SDIST}: publisher identity mismatch" in error
    assert re.search(r"the lock lists GitLab repository=evil/fork\b", error), error
    assert "the mirror verified GitLab repository=facutuesca/gitlab-oidc-project" in error
    assert ATTESTED not in distributions(venv)


def test_an_sdist_is_refused_unless_allowed_and_then_built_offline(attested_lab: Lab) -> None:
    lock = attested_pylock(attested_lab)
    venv = builder_venv(attested_lab)
    refused = attested_lab.install(lock, venv, "--", "--no-build-isolation")
    assert refused.returncode != 0
    error = refused.stderr.strip().splitlines()[-1]
    assert f"{ATTESTED}==0.0.3: {ATTESTED_SDIST} is an sdist" in error, error
    assert "--allow-sdist" in error
    assert ATTESTED not in distributions(venv)

    allowed = attested_lab.install(lock, venv, "--allow-sdist", "--", "--no-build-isolation")
    assert allowed.returncode == 0, allowed.stderr
    assert distributions(venv)[ATTESTED] == "0.0.3"
    unavailable = unavailable_reason()
    said = f"warning: pip runs with the network: {unavailable}" if unavailable else "offline"
    assert said in allowed.stdout
