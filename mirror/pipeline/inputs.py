"""Which kind of input `mirror install -r FILE` was given, by its name and its content.

``pylock.toml`` (and ``pylock.NAME.toml``), ``uv.lock`` and ``poetry.lock`` are recognised by
name, and their content must then be that lock; any other name is read as the lock its content
is, else as a requirements file. A file named like one lock but holding another is refused
rather than guessed at.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mirror.pipeline import poetrylock, pylock, requirements, uvlock
from mirror.pipeline.lockfields import Environment, parse_toml
from mirror.pipeline.pins import Pin, RequirementsError

LockReader = Callable[[str, dict[str, Any], Environment], list[Pin]]

# kind: (recognised by name, recognised by content, reader)
_LOCKS: dict[str, tuple[Callable[[str], bool], Callable[[dict[str, Any]], bool], LockReader]] = {
    "pylock.toml": (
        lambda name: pylock.NAME.fullmatch(name) is not None,
        pylock.is_pylock,
        pylock.read_pylock,
    ),
    "uv.lock": (lambda name: name == uvlock.NAME, uvlock.is_uv_lock, uvlock.read_uv_lock),
    "poetry.lock": (
        lambda name: name == poetrylock.NAME,
        poetrylock.is_poetry_lock,
        poetrylock.read_poetry_lock,
    ),
}


def read_input(path: Path, environment: Environment) -> list[Pin]:
    """The pins of ``path`` that apply to the target ``environment``.

    Raises:
        RequirementsError: one line naming the file and what is wrong.
    """
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RequirementsError(f"cannot read {path}: {exc}") from exc
    named = [kind for kind, (by_name, _, _) in _LOCKS.items() if by_name(path.name)]
    data = _toml_or_none(str(path), text, must_parse=bool(named))
    found = [kind for kind, (_, by_content, _) in _LOCKS.items() if data and by_content(data)]
    if named and named != found[:1]:
        raise RequirementsError(f"{path}: named like a {named[0]} but its content is not one")
    if not found:
        return requirements.parse_pins(str(path), text, environment)
    pins = _LOCKS[found[0]][2](str(path), data or {}, environment)
    if not pins:
        raise RequirementsError(f"{path}: the lock installs nothing on the target")
    return pins


def _toml_or_none(where: str, text: str, *, must_parse: bool) -> dict[str, Any] | None:
    try:
        return parse_toml(where, text)
    except RequirementsError:
        if must_parse:
            raise
        return None
