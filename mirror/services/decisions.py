"""A person's review decision, recorded (``review``) and then published, so their next read of
``/simple/`` shows the change: one path for the command line and the web.

Where this process holds no signing key, the worker's next cycle publishes instead.
"""

from dataclasses import dataclass

from mirror.services import publish, review, uploads
from mirror.services.backends import Backends
from mirror.services.publish import PublishReport
from mirror.services.review import Outcome


@dataclass(frozen=True)
class Decided:
    outcome: Outcome
    # None: left to the worker (this process cannot sign).
    published: PublishReport | None


def approve(backends: Backends, project: str, version: str, *, actor: str, reason: str) -> Decided:
    outcome = review.approve(backends, project, version, actor=actor, reason=reason)
    return Decided(outcome, publish.publish_now(backends))


def block(backends: Backends, project: str, specifier: str, *, actor: str, reason: str) -> Decided:
    outcome = review.block(backends, project, specifier, actor=actor, reason=reason)
    return Decided(outcome, publish.publish_now(backends))


def unblock(
    backends: Backends, project: str, specifier: str, *, actor: str, reason: str
) -> Decided:
    outcome = review.unblock(backends, project, specifier, actor=actor, reason=reason)
    return Decided(outcome, publish.publish_now(backends))


def yank_upload(
    backends: Backends, project: str, filename: str, *, actor: str, reason: str
) -> Decided:
    uploads.yank(backends, project, filename, actor=actor, reason=reason)
    return Decided(Outcome(project, [filename]), publish.publish_now(backends))


def delete_upload(
    backends: Backends, project: str, filename: str, *, actor: str, reason: str
) -> Decided:
    uploads.delete(backends, project, filename, actor=actor, reason=reason)
    return Decided(Outcome(project, [filename]), publish.publish_now(backends))
