"""Blocking service calls (they read, scan or fsync files) run in thread workers; their outcome comes back here.

One place turns every failure of such a call into words for the person: a refusal (bad input, an unknown
name) as the service phrased it, anything else as "… failed: reason" — never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from textual.dom import DOMNode
from textual.message import Message
from textual.worker import Worker, get_current_worker

from oboto.core.errors import RequestRefused

log = logging.getLogger(__name__)

T = TypeVar("T")


class BlockingCallDone(Message, bubble=False):
    """A blocking call ended; the app has `node` apply `outcome` (which may be async) if it is still mounted."""

    def __init__(self, node: DOMNode, outcome: Callable[[], object]) -> None:
        super().__init__()
        self.node = node
        self.outcome = outcome


def run_blocking(node: DOMNode, call: Callable[[], T], done: Callable[[T], object], *, what: str, group: str,
                 exclusive: bool = False, refused: Callable[[RequestRefused], object] | None = None) -> Worker[None]:
    """Run `call` in a thread worker, then `done(result)` (a function or a coroutine) on the UI thread.

    A refusal goes to `refused` (a dialog shows it inline), or else to a notification; any other failure is
    a notification titled `what`. With `exclusive`, a newer call in `group` drops the older one's outcome.
    """
    app = node.app

    def work() -> None:
        outcome: Callable[[], object]
        try:
            result = call()
        except RequestRefused as error:
            outcome = partial(refused, error) if refused is not None else partial(_tell_refused, node, what, error)
        except Exception as error:  # the one place a blocking call's failure is caught (see the module docstring)
            log.exception("%s failed", what)
            outcome = partial(_tell_failed, node, what, error)
        else:
            outcome = partial(done, result)
        if not get_current_worker().is_cancelled:
            app.post_message(BlockingCallDone(node, outcome))

    return node.run_worker(work, name=what, group=group, exclusive=exclusive, thread=True, exit_on_error=False)


def running(node: DOMNode, group: str) -> bool:
    """Whether a call `node` started in `group` is still running (so a second press does not send it twice)."""
    return any(worker.node is node and worker.group == group and worker.is_running for worker in node.workers)


def _tell_refused(node: DOMNode, what: str, error: RequestRefused) -> None:
    node.app.notify(str(error), title=what, severity="error", timeout=8, markup=False)


def _tell_failed(node: DOMNode, what: str, error: Exception) -> None:
    node.app.notify(f"{type(error).__name__}: {error}", title=f"{what} failed", severity="error", timeout=15,
                    markup=False)
