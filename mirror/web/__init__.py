"""The web layer: thin views that parse the request, call one service and render."""

from flask import current_app

from mirror.services.context import Services
from mirror.services.prefetch import Prefetcher


def services() -> Services:
    """The backends of the running app."""
    result: Services = current_app.extensions["mirror"]
    return result


def prefetcher() -> Prefetcher:
    """The running app's dependency look-ahead."""
    result: Prefetcher = current_app.extensions["prefetch"]
    return result
