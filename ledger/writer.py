"""Group commit: many concurrent captures share one transaction, one fsync.

Each request waits on a future until the transaction that holds it has committed, so a
2xx still means "durable". The writer thread takes whatever has queued while the previous
transaction was committing: under load, groups grow by themselves; when idle, a request
is committed alone, at once.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

from ledger.application import Ledger
from ledger.capture import CaptureRequest
from ledger.outcomes import CaptureResult

_STOP = object()


class GroupCommitter:
    def __init__(self, ledger: Ledger, *, max_group: int = 512) -> None:
        self.ledger = ledger
        self.max_group = max_group
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="tracecode-writer", daemon=True)
        self._thread.start()
        self.groups = 0
        self.requests = 0
        self.largest = 0
        """The most requests one transaction held."""

    def submit(self, request: CaptureRequest, timeout: float | None = 60.0) -> CaptureResult:
        """Store a request with whatever else is waiting; return once it is committed."""
        return self.enqueue(request).result(timeout=timeout)

    def enqueue(self, request: CaptureRequest) -> Future[CaptureResult]:
        """Queue a request; the future resolves once its transaction has committed.

        An asyncio server awaits it (``asyncio.wrap_future``) instead of parking a thread.
        """
        future: Future[CaptureResult] = Future()
        self._queue.put((request, future))
        return future

    @property
    def depth(self) -> int:
        """How many requests wait for the writer now (approximately: it moves on)."""
        return self._queue.qsize()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            group = [item]
            stop = False
            while len(group) < self.max_group:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                group.append(more)
            self._commit(group)  # type: ignore[arg-type]
            if stop:
                return

    def _commit(self, group: list[tuple[CaptureRequest, Future[CaptureResult]]]) -> None:
        self.groups += 1
        self.requests += len(group)
        self.largest = max(self.largest, len(group))
        try:
            results = self.ledger.append([request for request, _ in group])
        except Exception as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            # Something in the group broke the transaction: commit each alone, so that
            # one bad request cannot fail the others.
            for request, future in group:
                try:
                    future.set_result(self.ledger.append([request])[0])
                except Exception as exc:
                    future.set_exception(exc)
            return
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)
