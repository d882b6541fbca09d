"""Review decisions made over the web (API and review UI), through the one decision service the
command line uses too (``mirror.services.decisions``)."""

from mirror.services import decisions
from mirror.services.review import Outcome
from mirror.web import backends


def approve(project: str, version: str, *, actor: str, reason: str) -> Outcome:
    return decisions.approve(backends(), project, version, actor=actor, reason=reason).outcome


def block(project: str, specifier: str, *, actor: str, reason: str) -> Outcome:
    return decisions.block(backends(), project, specifier, actor=actor, reason=reason).outcome


def unblock(project: str, specifier: str, *, actor: str, reason: str) -> Outcome:
    return decisions.unblock(backends(), project, specifier, actor=actor, reason=reason).outcome


def yank_upload(project: str, filename: str, *, actor: str, reason: str) -> Outcome:
    return decisions.yank_upload(backends(), project, filename, actor=actor, reason=reason).outcome


def delete_upload(project: str, filename: str, *, actor: str, reason: str) -> Outcome:
    return decisions.delete_upload(
        backends(), project, filename, actor=actor, reason=reason
    ).outcome
