"""The interpreter `mirror install` installs for, and what it is: its marker environment and
the wheel tags it accepts, asked of that interpreter itself (never assumed from the client's).

``--python`` names it; else the active virtual environment (``VIRTUAL_ENV``); else
``python3`` on PATH. A default that turns out to be the client's own environment is refused:
installing there would change the tool doing the verifying, and only an explicit
``--python`` may ask for that.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import packaging
from packaging.tags import Tag, parse_tag

from mirror.errors import MirrorError

# Run by the target interpreter with -I (no site customisation, no PYTHONPATH), with a private
# copy of the client's `packaging` first on its path, so the answer does not depend on what the
# target has installed.
_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from packaging import markers, tags
print(json.dumps({
    "prefix": sys.prefix,
    "markers": markers.default_environment(),
    "tags": [str(tag) for tag in tags.sys_tags()],
}))
"""


class TargetError(MirrorError):
    """The target interpreter is missing, unusable, or the client's own without being asked."""


@dataclass(frozen=True)
class Target:
    python: str
    markers: dict[str, Any]
    tags: tuple[Tag, ...]  # best first, as pip prefers them

    @property
    def python_version(self) -> str:
        return str(self.markers["python_full_version"])


def find_target(python: str | None) -> Target:
    """The target named by ``--python``, or the default (see the module docstring)."""
    explicit = python is not None
    chosen = python or _default_python()
    found = probe(chosen)
    if not explicit and _same_environment(found[0], sys.prefix):
        raise TargetError(
            f"the default target {chosen} is mirror's own environment; name the environment "
            f"to install into with --python (--python {sys.executable} to mean this one)"
        )
    return found[1]


def _default_python() -> str:
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        return str(Path(venv, "bin", "python"))
    found = shutil.which("python3")
    if found is None:
        raise TargetError("no target: no active virtual environment and no python3 on PATH")
    return found


def _same_environment(prefix: str, own: str) -> bool:
    return Path(prefix).resolve() == Path(own).resolve()


def probe(python: str) -> tuple[str, Target]:
    """(sys.prefix, Target) as the interpreter ``python`` reports them."""
    with tempfile.TemporaryDirectory(prefix="mirror-probe-") as tmp:
        shutil.copytree(Path(packaging.__file__).parent, Path(tmp, "packaging"))
        try:
            result = subprocess.run(
                [python, "-I", "-c", _PROBE, tmp], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TargetError(f"cannot run the target interpreter {python}: {exc}") from exc
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise TargetError(f"the target interpreter {python} failed: {last}")
    answer = json.loads(result.stdout)
    tags = tuple(tag for text in answer["tags"] for tag in parse_tag(text))
    return answer["prefix"], Target(python, answer["markers"], tags)
