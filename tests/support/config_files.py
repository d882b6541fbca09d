"""Mirror config files for tests and benchmarks: the sections every test starts from, merged
with a test's own and written as TOML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Sections = dict[str, dict[str, Any]]


def write_config(path: Path, sections: Sections) -> Path:
    """Write a TOML config (flat values, lists of strings, one level of sub-tables)."""
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        tables = {k: v for k, v in values.items() if isinstance(v, dict)}
        lines += [f"{k} = {_toml(v)}" for k, v in values.items() if k not in tables]
        for name, table in tables.items():
            lines.append(f"[{section}.{name}]")
            lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def base_sections(data_dir: Path, upstream_url: str) -> Sections:
    """A mirror on ``data_dir`` and ``upstream_url``: a short upstream timeout and one retry,
    a 7-day quarantine and a scheduler cycle every second."""
    return {
        "upstream": {"url": upstream_url, "timeout": "5s", "retries": 1},
        "storage": {"path": str(data_dir)},
        "policy": {"quarantine": "7d"},
        "scheduler": {"interval": "1s"},
    }


def merge(base: Sections, extra: Sections) -> Sections:
    """``base`` with each of ``extra``'s sections updated into it (neither is changed)."""
    merged = {k: dict(v) for k, v in base.items()}
    for section, values in extra.items():
        merged.setdefault(section, {}).update(values)
    return merged
