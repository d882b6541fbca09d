"""The pieces of `mirror install`: reading pins, choosing files, asking the mirror why."""

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mirror.pipeline import install as install_module
from mirror.pipeline.inputs import read_input
from mirror.pipeline.install import InstallError, InstallOptions, install, parse_index_url
from mirror.pipeline.mirror_api import MirrorApi
from mirror.pipeline.pins import Pin, RequirementsError
from mirror.pipeline.sbom import InstalledFile, component, publishers_in
from mirror.pipeline.selection import HashMismatch, choose, release_files
from mirror.pipeline.target import Target, probe
from tuf_repo.errors import TargetNotFoundError

SHA = "a" * 64
# The interpreter running the tests, as `mirror install --python` would find it.
HERE: Target = probe(sys.executable)[1]


def pins(tmp_path: Path, text: str) -> list[Pin]:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return read_input(path, HERE.markers)


def test_pins_markers_extras_and_hashes(tmp_path: Path) -> None:
    result = pins(
        tmp_path,
        "Demo_Pkg[cli]==1.0 --hash=sha256:" + SHA.upper() + "  # comment\n"
        'old==1 ; python_version < "3"\n\n# only comments\n',
    )
    assert [(p.project, p.version, p.extras, p.hashes) for p in result] == [
        ("demo-pkg", "1.0", ("cli",), frozenset({SHA}))
    ]
    assert result[0].as_pip_line(SHA) == f"demo-pkg[cli]==1.0 --hash=sha256:{SHA}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("demo>=1\nother\n", "not fully pinned"),
        ("demo==1.*\n", "not fully pinned"),
        ("--index-url http://elsewhere/simple/\ndemo==1\n", "option --index-url is not allowed"),
        ("-e .\n", "option -e is not allowed"),
        ("demo @ http://x/demo.whl\n", "direct URLs are not allowed"),
        ("demo==1 --hash=md5:abc\n", "only --hash=sha256"),
        ("demo===\n", "invalid requirement"),
        ('demo==1 ; python_version < "3"\n', "no requirements for the target interpreter"),
    ],
)
def test_bad_requirement_sets_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RequirementsError, match=message):
        pins(tmp_path, text)


@pytest.mark.parametrize("arg", ["--extra-index-url=http://x/simple/", "-f", "-ihttp://x/"])
def test_pip_arguments_that_add_sources_are_refused(tmp_path: Path, arg: str) -> None:
    options = InstallOptions("r.txt", "http://m/simple/", trust_on_first_use=True, pip_args=[arg])
    with pytest.raises(InstallError, match="only the verified set"):
        list(install(options))


def test_index_url_credentials_and_root() -> None:
    mirror = parse_index_url("https://__token__:s%40cret@mirror.internal:8443/pypi/simple/")
    assert mirror.base_url == "https://mirror.internal:8443/pypi/"
    assert mirror.auth == ("__token__", "s@cret")
    with pytest.raises(InstallError, match="/simple/"):
        parse_index_url("https://mirror.internal/pypi/")


def test_choose_prefers_the_best_fitting_wheel_then_the_sdist(tmp_path: Path) -> None:
    [pin] = pins(tmp_path, "demo==1.0\n")
    best = HERE.tags[0]
    entry = lambda name, **kw: {"filename": name, "hashes": {"sha256": SHA}, **kw}  # noqa: E731
    page = {
        "files": [
            entry("demo-1.0.tar.gz"),
            entry("demo-1.0-py3-none-any.whl"),
            entry(f"demo-1.0-{best.interpreter}-{best.abi}-{best.platform}.whl"),
            entry("demo-1.0-cp27-cp27m-win32.whl"),
            entry("demo-1.1-py3-none-any.whl"),
            entry("demo-1.0-py3-none-any.whl", **{"requires-python": "<3"}),
        ]
    }
    files = release_files(page, pin)
    assert len(files) == 5
    chosen = choose(files, pin, HERE)
    assert chosen is not None and chosen.filename.endswith(f"{best.platform}.whl")
    assert choose([entry("demo-1.0-cp27-cp27m-win32.whl")], pin, HERE) is None
    assert choose([entry("demo-1.0.tar.gz")], pin, HERE).filename == "demo-1.0.tar.gz"  # type: ignore[union-attr]


def test_a_pinned_hash_that_matches_no_fitting_file_is_a_mismatch(tmp_path: Path) -> None:
    other = "b" * 64
    [pin] = pins(tmp_path, f"demo==1.0 --hash=sha256:{other}\n")
    entries = [{"filename": "demo-1.0-py3-none-any.whl", "hashes": {"sha256": SHA}}]
    with pytest.raises(
        HashMismatch, match=f"sha256 mismatch: lock says {other}, the mirror signs {SHA}"
    ):
        choose(entries, pin, HERE)


@pytest.fixture
def api_server() -> Iterator[tuple[str, dict[str, tuple[int, object]]]]:
    """A tiny HTTP server answering ``routes[path] = (status, json)``."""
    routes: dict[str, tuple[int, object]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = routes.get(self.path, (404, {"error": "not found"}))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", routes
    server.shutdown()
    server.server_close()


def release(*files: dict[str, object]) -> tuple[int, object]:
    return 200, {"project": "demo", "version": "2.0", "files": list(files)}


def test_why_a_release_is_missing(api_server: tuple[str, dict[str, tuple[int, object]]]) -> None:
    base, routes = api_server
    api = MirrorApi(base, ("__token__", "t"))
    path = "/api/v1/projects/demo/releases/2.0"
    assert api.why_missing("demo", "2.0") == "no such version upstream"
    routes[path] = (401, {"error": "token needed"})
    assert api.why_missing("demo", "2.0") == "not admitted (no details)"
    until = "2026-12-01T00:00:00Z"
    young = "younger than the quarantine of 7d"
    routes[path] = release(
        {"filename": "a", "state": "quarantined", "hold_until": until, "reason": young}
    )
    assert api.why_missing("demo", "2.0") == f"held until {until} because {young}"
    routes[path] = release(
        {"filename": "a", "state": "quarantined", "hold_until": until},
        {"filename": "b", "state": "blocked", "reason": "credential stealer"},
    )
    assert api.why_missing("demo", "2.0") == "blocked: credential stealer"
    routes[path] = release({"filename": "a", "state": "quarantined", "reason": "new publisher"})
    assert api.why_missing("demo", "2.0") == "held for review because new publisher"


class _NextSnapshotClient:
    """A MirrorClient whose targets appear after ``refreshes`` refreshes."""

    def __init__(self, refreshes: int, targets: dict[str, bytes] | None = None) -> None:
        self.missing_for = refreshes
        self.refreshes = 0
        self.targets = targets or {}

    def download(self, target: str, dest: Path) -> str:
        if self.refreshes < self.missing_for:
            raise TargetNotFoundError(f"{target}: not found in signed metadata")
        return target

    def fetch_bytes(self, target: str) -> bytes:
        self.download(target, Path())
        return self.targets[target]

    def refresh(self) -> None:
        self.refreshes += 1


PIN = Pin("demo", "1.0", (), frozenset(), 1)


def test_the_sbom_names_the_publisher_of_the_signed_provenance_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The copy's target follows the page's, like the file's.
    monkeypatch.setattr(install_module, "LISTED_TARGET_RETRIES", (0, 0, 0))
    publisher = {"kind": "GitHub", "repository": "acme/demo", "workflow": "release.yml"}
    provenance = {"version": 1, "attestation_bundles": [{"publisher": publisher}, {}]}
    target = "packages/demo/demo-1.0.whl"
    copies = {f"{target}.provenance": json.dumps(provenance).encode()}
    late = _NextSnapshotClient(refreshes=1, targets=copies)
    found = install_module.signed_publishers(late, PIN, target)  # type: ignore[arg-type]
    assert found == [publisher]
    assert late.refreshes == 1
    item = InstalledFile("demo", "1.0", "demo-1.0.whl", SHA, target, found)
    properties = {p.name: p.value for p in component(item).properties}
    assert properties["signed-mirror:publisher:repository"] == "acme/demo"
    assert properties["signed-mirror:tuf-target"] == "packages/demo/demo-1.0.whl"
    assert publishers_in({"attestation_bundles": "nonsense"}) == publishers_in([]) == []
    copies[f"{target}.provenance"] = b"<html>"
    with pytest.raises(InstallError, match=r"demo-1\.0\.whl\.provenance: not JSON"):
        install_module.signed_publishers(late, PIN, target)  # type: ignore[arg-type]


def test_a_listed_file_is_looked_up_again_in_newer_snapshots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first look signs the page a batch before the files' targets.
    monkeypatch.setattr(install_module, "LISTED_TARGET_RETRIES", (0, 0, 0))
    target = "packages/a/a.whl"
    late = _NextSnapshotClient(refreshes=2)
    found = install_module._listed(late, PIN, target, lambda: late.download(target, tmp_path))  # type: ignore[arg-type]
    assert found == target
    assert late.refreshes == 2
    never = _NextSnapshotClient(refreshes=99)
    with pytest.raises(install_module._Refused, match=r"a\.whl is not in the signed metadata"):
        install_module._listed(never, PIN, target, lambda: never.download(target, tmp_path))  # type: ignore[arg-type]
    assert never.refreshes == 3
