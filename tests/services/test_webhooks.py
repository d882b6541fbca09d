"""Webhook notifications: signed JSON bodies from a queue kept in the database, retried after a
failure, sent once with several delivery workers, and kept across a restart."""

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from mirror.db.engine import writing
from mirror.db.schema import notification_deliveries
from mirror.db.status_rows import set_status
from mirror.services import notify, webhooks
from mirror.services.backends import Backends
from mirror.services.status import SCHEDULER_STATUS
from mirror.services.webhooks import Deliverer
from mirror.timeutil import Clock, format_timestamp
from tests.support.webhook_receiver import Receiver, running_receiver

SECRET = "s3cret-webhook-key-0123456789"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(SECRET) as running:
        yield running


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.scaled)])
def database(request: pytest.FixtureRequest) -> dict[str, str]:
    """The ``[database]`` section: the embedded SQLite, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return {}
    return {"url": request.getfixturevalue("postgres_url")}


@pytest.fixture
def hooked(
    make_backends: Callable[..., Backends], receiver: Receiver, database: dict[str, str]
) -> Backends:
    """Backends with one webhook, subscribed to every event, on the receiver."""
    hook = {"url": receiver.url, "events": list(notify_events()), "secret": SECRET}
    sections = {"notify": {"webhook": [hook], "retry_base": "1m"}}
    return make_backends(**sections, **({"database": database} if database else {}))


def notify_events() -> tuple[str, ...]:
    from mirror.config import NOTIFY_EVENTS

    return NOTIFY_EVENTS


def queue_event(backends: Backends, summary: str = "demo 2.0 blocked by alice: stealer") -> None:
    event = notify.Event(notify.BLOCKED, summary, {"project": "demo"}, project="demo")
    with writing(backends.engine) as conn:
        notify.record(conn, event, backends.clock.now())


def later(backends: Backends, by: timedelta) -> Backends:
    """The same mirror, its clock ``by`` ahead (backoff is waited through the clock)."""
    return replace(backends, clock=Clock(backends.clock.offset + by))


def delivery_states(backends: Backends) -> list[tuple[str, int]]:
    with backends.engine.connect() as conn:
        query = select(notification_deliveries.c.state, notification_deliveries.c.attempts)
        return [tuple(row) for row in conn.execute(query.order_by(notification_deliveries.c.id))]


def test_a_signed_event_is_sent_again_after_the_receiver_failed(
    hooked: Backends, receiver: Receiver
) -> None:
    receiver.answers = [500]
    queue_event(hooked)
    report = Deliverer(hooked).run()
    assert (report.dispatched, report.retried, report.delivered) == (1, 1, 0)
    assert Deliverer(hooked).run().delivered == 0  # not due before its backoff ends
    assert delivery_states(hooked) == [("queued", 1)]

    assert Deliverer(later(hooked, timedelta(minutes=2))).run().delivered == 1
    first, second = receiver.received
    assert (first.status, second.status) == (500, 200)
    assert first.signature_ok and second.signature_ok
    assert first.body == second.body  # the same event: a receiver can tell by its id
    document = second.document
    assert document["event"] == "blocked" and document["project"] == "demo"
    assert document["summary"] == document["text"] == "demo 2.0 blocked by alice: stealer"
    assert second.headers["X-Signed-Mirror-Event"] == "blocked"
    assert delivery_states(hooked) == [("delivered", 2)]


def test_a_receiver_checking_another_secret_refuses_the_body(
    hooked: Backends, receiver: Receiver
) -> None:
    receiver.secret = "not-the-configured-secret"
    queue_event(hooked)
    assert Deliverer(hooked).run().retried == 1
    assert [item.signature_ok for item in receiver.received] == [False]


def test_redirects_are_not_followed(hooked: Backends, receiver: Receiver) -> None:
    receiver.answers = [307]
    receiver.redirect_to = receiver.url + "/elsewhere"
    queue_event(hooked)
    assert Deliverer(hooked).run().retried == 1
    assert len(receiver.received) == 1
    with hooked.engine.connect() as conn:
        error = conn.execute(select(notification_deliveries.c.last_error)).scalar_one()
    assert error == "answered HTTP 307"


def test_a_delivery_gives_up_after_max_attempts(
    make_backends: Callable[..., Backends], receiver: Receiver
) -> None:
    hook = {"url": receiver.url, "events": ["blocked"], "secret": SECRET}
    backends = make_backends(notify={"webhook": [hook], "max_attempts": 2, "retry_base": "1m"})
    receiver.answers = [500, 500, 500]
    queue_event(backends)
    assert Deliverer(backends).run().retried == 1
    assert Deliverer(later(backends, timedelta(minutes=5))).run().failed == 1
    assert delivery_states(backends) == [("failed", 2)]
    assert len(receiver.received) == 2


def test_two_workers_send_each_event_exactly_once(
    hooked: Backends, receiver: Receiver, make_backends: Callable[..., Backends]
) -> None:
    for n in range(30):
        queue_event(hooked, f"event {n}")
    # Two nodes: backends of their own (their own engines and connections) on one database.
    nodes = [Backends.from_config(hooked.config) for _ in range(2)]
    start = threading.Barrier(len(nodes))
    reports: list[webhooks.RunReport] = []

    def work(node: Backends) -> None:
        deliverer = Deliverer(node)
        start.wait()
        reports.append(deliverer.run())

    threads = [threading.Thread(target=work, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = receiver.ids()
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 30
    assert sum(r.dispatched for r in reports) == 30
    assert sum(r.delivered for r in reports) == 30


def test_a_restart_loses_nothing(hooked: Backends, receiver: Receiver) -> None:
    queue_event(hooked)
    hooked.engine.dispose()  # the process that recorded the event is gone
    restarted = Backends.from_config(hooked.config)
    assert Deliverer(restarted).run().delivered == 1
    assert len(receiver.received) == 1


def test_a_worker_that_died_mid_delivery_lets_it_go_when_its_lease_ends(
    hooked: Backends, receiver: Receiver
) -> None:
    queue_event(hooked)
    dead = Deliverer(hooked)
    dead.dispatch()
    assert dead._claim() is not None  # claimed, then the worker died before sending
    assert Deliverer(hooked).run().delivered == 0  # leased: nobody else sends it yet
    assert Deliverer(later(hooked, timedelta(minutes=2))).run().delivered == 1
    assert len(receiver.received) == 1


def test_the_secret_is_never_logged(
    hooked: Backends, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.answers = [500]
    queue_event(hooked)
    Deliverer(hooked).run()
    Deliverer(later(hooked, timedelta(minutes=2))).run()
    assert len(receiver.received) == 2
    assert caplog.records
    for record in caplog.records:
        assert SECRET not in repr(record.__dict__)
    assert SECRET not in repr(hooked.config)


def test_a_stalled_scheduler_is_notified_once(hooked: Backends) -> None:
    stale = hooked.clock.now() - timedelta(hours=2)
    status = {"last_cycle": format_timestamp(stale), "last_complete_cycle": format_timestamp(stale)}
    with writing(hooked.engine) as conn:
        set_status(conn, SCHEDULER_STATUS, status, stale)
    assert webhooks.note_stalled_scheduler(hooked)
    assert not webhooks.note_stalled_scheduler(Backends.from_config(hooked.config))
    log = webhooks.delivery_log(hooked)
    assert log == []  # recorded, not yet dispatched
    assert Deliverer(hooked).run().delivered == 1
    (row,) = webhooks.delivery_log(hooked)
    assert (row.kind, row.state) == ("scheduler_stalled", "delivered")
