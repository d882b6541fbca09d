"""The web layer: thin views that parse the request, call one service and render."""

from flask import current_app

from mirror.services.context import Services


def services() -> Services:
    """The backends of the running app."""
    result: Services = current_app.extensions["mirror"]
    return result
