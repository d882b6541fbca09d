"""Review decisions made over the web (API and review UI).

Each calls the one review service, then publishes (``publish.publish_now``, as the CLI does), so
the person's next read of ``/simple/`` shows the change. Where this process holds no signing
key, the worker's next cycle publishes instead.
"""

from mirror.services import publish, review
from mirror.services.review import Outcome
from mirror.web import services


def approve(project: str, version: str, *, actor: str, reason: str) -> Outcome:
    outcome = review.approve(services(), project, version, actor=actor, reason=reason)
    publish.publish_now(services())
    return outcome


def block(project: str, specifier: str, *, actor: str, reason: str) -> Outcome:
    outcome = review.block(services(), project, specifier, actor=actor, reason=reason)
    publish.publish_now(services())
    return outcome


def unblock(project: str, specifier: str, *, actor: str, reason: str) -> Outcome:
    outcome = review.unblock(services(), project, specifier, actor=actor, reason=reason)
    publish.publish_now(services())
    return outcome
