"""PostgreSQL connections that give up on a server that stops answering.

``statement_timeout`` makes a running server cancel a statement that runs too long. A server
that does not run at all (stopped, frozen, cut off by a firewall that drops packets) cancels
nothing, and its kernel still acknowledges TCP, keepalives included: a request waited until the
server came back, a minute or more. So every wait for the server on a connection of the mirror's
also ends on the client's side, a little after the server's own timeout would have fired; the
connection is then closed, the pool drops it, and the request answers 503.
"""

from typing import Any

import psycopg
from psycopg.abc import RV, PQGen
from psycopg.errors import _WaitTimeout  # what Connection.wait raises when its timeout ends
from sqlalchemy import Engine, event

_WAIT_INTERVAL = 0.1  # psycopg's own: how often a wait checks for Ctrl-C


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait for the server ends after ``answer_timeout``."""

    answer_timeout: float | None = None

    def wait(
        self, gen: PQGen[RV], interval: float = _WAIT_INTERVAL, timeout: float | None = None
    ) -> RV:
        bounded = timeout is None and self.answer_timeout is not None
        try:
            return super().wait(gen, interval, self.answer_timeout if bounded else timeout)
        except _WaitTimeout as exc:
            if not bounded:
                raise
            # The server is somewhere in the middle of the exchange: nothing more can be said
            # on this connection.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"no answer from the database in {self.answer_timeout:g} s"
            ) from exc


def bound_answers(engine: Engine, seconds: float) -> None:
    """Make every connection ``engine`` opens a ``BoundedConnection`` that waits ``seconds``."""

    @event.listens_for(engine, "do_connect")
    def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> BoundedConnection:
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.answer_timeout = seconds
        return connection
