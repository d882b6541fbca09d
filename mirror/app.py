"""The Flask application factory."""

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from mirror.config import Config, load_config
from mirror.services.backends import Backends
from mirror.web import (
    admin,
    api,
    auth,
    downloads,
    errors,
    health,
    legacy,
    metrics,
    oidc,
    packages,
    problems,
    simple,
    tuf,
)
from mirror.web.warm_pages import WarmPages


def create_app(config: Config | None = None, backends: Backends | None = None) -> Flask:
    """Build the WSGI app; backends come from ``config`` (default: the usual config lookup)."""
    app = Flask(__name__)
    backends = backends or Backends.from_config(config or load_config())
    app.extensions["mirror"] = backends
    app.url_map.strict_slashes = True
    for module in (simple, packages, tuf, health, metrics, api, admin, problems, legacy):
        app.register_blueprint(module.blueprint)
    oidc.init_app(app)  # the CI identity exchange, its trusted issuers checked now
    auth.init_app(app)  # tokens, sessions and security headers for every route above
    errors.init_app(app)
    metrics.init_app(app)
    downloads.init_app(app)
    # Warm project pages are answered before Flask builds a request (docs/performance.md).
    app.wsgi_app = WarmPages(  # type: ignore[method-assign]
        backends, app.wsgi_app, auth.use_recorder(app)
    )
    proxies = backends.config.server.trusted_proxies
    if proxies:
        # Behind a load balancer the peer is the balancer: the client's address, for the
        # download audit and the access log, is the X-Forwarded-For entry the outermost of the
        # configured proxies appended; entries before it are the client's own to forge.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies)  # type: ignore[method-assign]
    app.wsgi_app = errors.RequestIds(app.wsgi_app)  # type: ignore[method-assign]
    return app
