"""gunicorn settings for running the mirror with gunicorn directly:

    gunicorn -c config/gunicorn.conf.py 'mirror.app:create_app()'

`mirror serve` applies the same settings itself; both read them from the mirror's own
configuration (server.bind, server.workers, server.threads), so there is one source.
"""

from mirror.config import load_config
from mirror.server import gunicorn_settings

globals().update(gunicorn_settings(load_config()))
