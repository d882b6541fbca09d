"""External scanners' vocabulary (docs/admission.md, "External scanners"): what a
``[[checks.external]]`` entry is, what a run gave, and the ``hold_on`` conditions that can hold
a file for review. Pure data and matching: ``mirror.checks.external`` runs the scanners,
``mirror.config`` parses the entries, ``mirror.policy.verdicts`` reads the records.

The conditions are a small language, parsed when the configuration is loaded and never
evaluated as code:

* ``failed``: the scanner failed (it could not start, exited by a signal, ran out of time,
  printed more than ``max_output`` bytes, or printed no JSON);
* ``PATH OP VALUE``: ``PATH`` is dot-separated keys into the JSON verdict (``issues``,
  ``summary.malicious``); ``OP`` is one of ``==``, ``!=``, ``>``, ``>=``, ``<``, ``<=``.
  ``==`` and ``!=`` compare with a JSON value (``true``, ``3``, ``"malicious"``; a bare word
  is a string). The ordering operators compare with a number; a list or an object counts as
  its number of items there. A path the verdict lacks matches no condition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

PLACEHOLDER = "{file}"
FAILED = "failed"
_CONDITION = re.compile(
    r"^\s*(?P<path>[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\s*"
    r"(?P<op>==|!=|>=|<=|>|<)\s*(?P<value>\S(?:.*\S)?)\s*$"
)
Operator = Literal["==", "!=", ">", ">=", "<", "<="]
_MISSING = object()
# Characters of a verdict shown in one line; the record keeps it whole (up to max_output).
_VERDICT_SHOWN = 300


class ConditionError(ValueError):
    """A ``hold_on`` entry that is not a condition of the language above."""


@dataclass(frozen=True)
class Condition:
    """One ``hold_on`` entry, parsed; ``text`` is what hold reasons quote."""

    text: str
    path: tuple[str, ...] = ()
    op: Operator | None = None
    value: Any = None

    @classmethod
    def parse(cls, text: str) -> Condition:
        if text.strip() == FAILED:
            return cls(FAILED)
        found = _CONDITION.match(text)
        if found is None:
            raise ConditionError(
                f"{text!r} is not a condition: use failed, or PATH OP VALUE with OP one of "
                "== != > >= < <="
            )
        op: Operator = found["op"]  # type: ignore[assignment]
        raw = found["value"]
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw  # a bare word: a string
        if op not in ("==", "!=") and not _is_number(value):
            raise ConditionError(f"{text!r}: {op} compares with a number, not {raw}")
        return cls(" ".join((found["path"], op, raw)), tuple(found["path"].split(".")), op, value)

    def matches(self, outcome: ScanOutcome) -> bool:
        if self.op is None:
            return outcome.error is not None
        if outcome.error is not None:
            return False
        found = _lookup(outcome.verdict, self.path)
        if found is _MISSING:
            return False
        if self.op in ("==", "!="):
            return _same(found, self.value) == (self.op == "==")
        amount = len(found) if isinstance(found, list | dict) else found
        if not _is_number(amount):
            return False
        return {
            ">": amount > self.value,
            ">=": amount >= self.value,
            "<": amount < self.value,
            "<=": amount <= self.value,
        }[self.op]


@dataclass(frozen=True)
class Scanner:
    """One ``[[checks.external]]`` entry."""

    name: str
    command: tuple[str, ...]
    timeout: float
    max_output: int
    hold_on: tuple[Condition, ...] = ()

    def argv(self, path: Path) -> list[str]:
        if any(PLACEHOLDER in part for part in self.command):
            return [part.replace(PLACEHOLDER, str(path)) for part in self.command]
        return [*self.command, str(path)]


@dataclass(frozen=True)
class ScanOutcome:
    """What a run gave: the JSON verdict, or why there is none; the exit status if any."""

    verdict: Any = None
    error: str | None = None
    exit_status: int | None = None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(left: Any, right: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``."""
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    return type(left) is type(right) and bool(left == right)


def _lookup(verdict: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(verdict, dict) or key not in verdict:
            return _MISSING
        verdict = verdict[key]
    return verdict


def record(scanner: Scanner, outcome: ScanOutcome, at: str) -> dict[str, Any]:
    """The evidence kept for one run: the verdict or the failure, and the condition that holds
    the file for review, if one matched."""
    held = next((c.text for c in scanner.hold_on if c.matches(outcome)), None)
    return {
        "status": "failed" if outcome.error is not None else "ok",
        "verdict": outcome.verdict,
        "error": outcome.error,
        "exit_status": outcome.exit_status,
        "hold": held,
        "ran_at": at,
    }


def hold_reasons(records: Mapping[str, Any]) -> tuple[str, ...]:
    """The hold reasons of a file's scanner records (``evidence["external"]``)."""
    return tuple(
        f"external scanner {name}: {entry['hold']}"
        for name, entry in sorted(records.items())
        if isinstance(entry, Mapping) and entry.get("hold")
    )


def outcome_text(entry: Mapping[str, Any]) -> str:
    """One scanner record of a file in words: its verdict or its failure, and what it holds."""
    if entry.get("status") == "failed":
        text = f"scanner failed: {entry.get('error')}"
    else:
        verdict = json.dumps(entry.get("verdict"), sort_keys=True, ensure_ascii=False)
        text = "verdict " + (
            verdict if len(verdict) <= _VERDICT_SHOWN else verdict[:_VERDICT_SHOWN] + " …"
        )
    return text + (f"; holds for review ({entry['hold']})" if entry.get("hold") else "")
