"""Property: the inspector flags exactly what installers put where it runs at start-up.

Hypothesis builds wheels with one probed member, its name made of ``.``, ``..``, repeated
slashes, backslashes, ``.data`` scheme directories and nested directories, ending in a
``.pth``, a startup hook or an ordinary module, and its contents with or without executable
lines (a BOM, long lines, many lines). Each wheel is installed for real by pip and by the
reference installer (tests/checks/wheel_oracle.py), and followed on Windows; the flags must
match what lands in site-packages' top level.
"""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mirror.checks.content import compare, inspect_distribution
from tests.checks import wheel_oracle
from tests.checks.test_content import build_wheel

PREFIXES = [
    "",
    "./",
    "/",
    "C:\\",
    "demo-1.0.data/purelib/",
    "demo-1.0.data//platlib/",
    "demo-1.0.data/data/lib/python3.11/site-packages/",
    "demo-1.0.data/data/share/",
    "demo-1.0.data/scripts/",
    "demo-1.0.data/headers/",
    "demo-1.0.data/",
    "other-1.0.data/purelib/",
]
DIRECTORIES = ["demo", "sub", "..", ".", ""]
SEPARATORS = ["/", "//", "\\"]
LEAVES = [
    "evil.pth",
    "sitecustomize.py",
    "usercustomize.py",
    "sitecustomize/__init__.py",
    "usercustomize.cpython-311-x86_64-linux-gnu.so",
    "module.py",
    "notes.pth.txt",
    "evil.pth. ",  # "evil.pth" on Windows
    "evil.pth::$DATA",  # the contents of "evil.pth" on Windows
]
LINES = [
    "import os",
    "import\tos",
    "import os; " + "x" * 400,
    " import indented_is_a_path",
    "# import commented",
    "src",
    "y" * 400,
]
HOOKS = ("sitecustomize", "usercustomize")


@st.composite
def member_names(draw: st.DrawFn) -> str:
    parts = [
        *draw(st.lists(st.sampled_from(DIRECTORIES), max_size=4)),
        draw(st.sampled_from(LEAVES)),
    ]
    name = parts[0]
    for part in parts[1:]:
        name += draw(st.sampled_from(SEPARATORS)) + part
    return draw(st.sampled_from(PREFIXES)) + name


contents = st.tuples(st.booleans(), st.lists(st.sampled_from(LINES), max_size=30))


def executable(lines: list[str]) -> bool:
    """site.py's own test (a BOM before the first line is stripped, since Python 3.13)."""
    return any(line.startswith(("import ", "import\t")) for line in lines)


def is_hook(path: tuple[str, ...]) -> bool:
    module, dot, _ = path[0].partition(".")
    return module in HOOKS and (len(path) > 1 or bool(dot))


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(member=member_names(), content=contents)
# Found by this test: rooted inside its scheme, so the reference installer on Windows refuses.
@example(member="demo-1.0.data/purelib/\\evil.pth", content=(False, ["import os"]))
# Found by an attack: Windows names the file before a stream colon and drops trailing dots.
@example(member="evil.pth::$DATA", content=(False, ["import os"]))
@example(member="demo/../evil.pth. ", content=(False, ["import os"]))
def test_flags_match_what_installers_put_in_site_packages(
    member: str, content: tuple[bool, list[str]]
) -> None:
    bom, lines = content
    data = ("\ufeff" if bom else "") + "\n".join(lines) + "\n"
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        wheel = build_wheel(root / "wheel", {member: data.encode()})
        by_installer = wheel_oracle.with_installer(wheel, root / "installer")
        by_pip = wheel_oracle.with_pip(wheel, root / "pip")
        flags = {flag.code for flag in compare(None, inspect_distribution(wheel.name, wheel))}
    assume(not by_installer.timed_out)
    on_windows = wheel_oracle.on_windows(member)
    landed = {
        (name, *(("",) if body is None else ()))
        for name, body in {**by_installer.top_level, **by_pip.top_level}.items()
    } | {path for path in on_windows if isinstance(path, tuple) and path}
    landed = {path for path in landed if wheel_oracle.is_probe_entry(path[0])}
    pth_landed = executable(lines) and any(
        len(path) == 1 and path[0].endswith(".pth") for path in landed
    )
    hook_landed = any(is_hook(path) for path in landed)
    refused_as_outside = by_installer.escape or by_pip.escape or "outside" in on_windows
    refused = bool(by_installer.refused or by_pip.refused) or not all(
        isinstance(path, tuple) for path in on_windows
    )

    # Nothing that lands where it runs at start-up gets through unflagged...
    assert not pth_landed or flags & {"executable-pth", "path-escape"}
    assert not hook_landed or flags & {"startup-hook", "path-escape"}
    assert not refused_as_outside or "path-escape" in flags
    # ...and nothing else is flagged.
    assert "executable-pth" not in flags or pth_landed
    assert "startup-hook" not in flags or hook_landed
    assert "path-escape" not in flags or refused
    assert flags <= {"executable-pth", "startup-hook", "path-escape"}
