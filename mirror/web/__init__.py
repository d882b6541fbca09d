"""The web layer: thin views that parse the request, call one service and render."""

from flask import current_app

from mirror.services.backends import Backends


def backends() -> Backends:
    """The backends of the running app."""
    result: Backends = current_app.extensions["mirror"]
    return result
