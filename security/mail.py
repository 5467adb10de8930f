"""Mail sent after the response, by one background thread per process.

A request that talks to the mail server itself lasts as long as the server takes, and that
tells whoever sent the request whether mail went out: for a password reset, whether an
address belongs to an account. Queueing a message here costs the same few microseconds
whatever is queued, and the answer goes out at once.

The web tier keeps no state: a message still queued when a process is killed is lost (a
reset can be asked for again). At a normal exit the queue is sent first, for up to
DRAIN_SECONDS. settings.EMAIL_TIMEOUT keeps a hanging mail server from holding the sender.
"""

import atexit
import logging
import os
import queue
import threading

from django.core.mail import EmailMessage

logger = logging.getLogger(__name__)

THREAD_NAME = "libstaff-mail"
DRAIN_SECONDS = 30

_lock = threading.Lock()
_queue: queue.SimpleQueue = queue.SimpleQueue()
_worker: threading.Thread | None = None


def send_later(message: EmailMessage | None) -> None:
    """Queues a message for the background sender. None queues nothing to send at the same
    cost, for callers whose timing must not tell whether they had something to send."""
    _start_worker()
    _queue.put(message)


def flush(timeout: float | None = None) -> bool:
    """Waits until every message queued so far has been sent or has failed; False if that
    took longer than `timeout` seconds."""
    done = threading.Event()
    _start_worker()
    _queue.put(done)
    return done.wait(timeout)


def _start_worker() -> None:
    global _worker
    with _lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_send_queued, name=THREAD_NAME, daemon=True)
            _worker.start()


def _send_queued() -> None:
    while True:
        item = _queue.get()
        if isinstance(item, threading.Event):
            item.set()
        elif item is not None:
            try:
                item.send()
            except Exception:
                logger.exception("Could not send the email %r", item.subject)


def _drain_at_exit() -> None:
    if _worker is not None and _worker.is_alive():
        flush(DRAIN_SECONDS)


def _forget_parent_worker() -> None:
    """A forked process (a gunicorn worker) starts its own sender and queue."""
    global _queue, _worker, _lock
    _lock = threading.Lock()
    _queue = queue.SimpleQueue()
    _worker = None


atexit.register(_drain_at_exit)
os.register_at_fork(after_in_child=_forget_parent_worker)
