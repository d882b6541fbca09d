"""The web layer: thin views that parse the request, call one service and render."""

from flask import current_app

from mirror.services.backends import Backends
from mirror.services.prefetch import Prefetcher


def backends() -> Backends:
    """The backends of the running app."""
    result: Backends = current_app.extensions["mirror"]
    return result


def prefetcher() -> Prefetcher:
    """The running app's dependency look-ahead."""
    result: Prefetcher = current_app.extensions["prefetch"]
    return result
