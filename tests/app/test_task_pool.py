"""The one helper for small tasks off the GUI thread: latest-only requests and queued ones."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from lora_studio.app.workers.task_pool import TaskPool


def test_submit_drops_requests_still_waiting_and_queue_keeps_every_one(qapp):
    pool = TaskPool()
    gate = threading.Event()
    ran: list[tuple[str, int]] = []
    threads: set[object] = set()

    def blocker(request: int) -> None:
        gate.wait(5)
        ran.append(("blocker", request))

    def task(name: str):
        def run(request: int) -> None:
            threads.add(QThread.currentThread())
            ran.append((name, request))

        return run

    pool.queue(blocker)  # holds the one thread while the others wait
    pool.queue(task("a"))
    pool.queue(task("b"))
    latest = pool.submit(task("newest"))  # drops a and b: only the newest matters
    gate.set()
    assert pool.wait(5000)
    assert [name for name, _ in ran] == ["blocker", "newest"]
    assert pool.latest == latest == ran[-1][1]
    assert QThread.currentThread() not in threads  # never on the GUI thread

    ran.clear()
    for name in ("c", "d", "e"):
        pool.queue(task(name))
    assert pool.wait(5000)
    assert [name for name, _ in ran] == ["c", "d", "e"]  # in the order asked


def test_a_failing_task_does_not_stop_the_pool(qapp, caplog):
    pool = TaskPool()
    done: list[int] = []

    def broken(_request: int) -> None:
        raise ValueError("boom")

    pool.queue(broken)
    pool.queue(done.append)
    assert pool.wait(5000)
    assert len(done) == 1
    assert "A background task failed" in caplog.text
