"""TaskRunner's run ids: a replaced or joined run's late answers never reach the view (gui/jobs/task_worker.py).

A task's signals are queued to the GUI thread; these tests let a run emit while the GUI thread does not spin its
event loop, replace or join it, and then see what is delivered. Qt delivers the queued answers of one sender in
order, so once the next run's `finished` has arrived, everything the earlier run queued has been handled."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QObject, Qt, Signal

from ddpm_studio.gui.jobs.task_worker import TaskRunner

WAIT_S = 30  # bounds on waits for a worker thread: never a timing assertion


@pytest.fixture
def runner(qtbot):
    runner = TaskRunner("test")
    answers: list[tuple[str, object]] = []
    runner.progress.connect(lambda s: answers.append(("progress", s)))
    runner.result.connect(lambda v: answers.append(("result", v)))
    runner.failed.connect(lambda m: answers.append(("failed", m)))
    runner.finished.connect(lambda: answers.append(("finished", runner.is_running())))
    runner.answers = answers
    yield runner
    assert runner.shutdown(10.0)


class _Marker(QObject):
    ping = Signal()
    pong = Signal()


def flush_queued_calls(qtbot) -> None:
    """Deliver every queued call posted so far: a queued marker posted now arrives after them."""
    marker = _Marker()
    marker.ping.connect(marker.pong, Qt.ConnectionType.QueuedConnection)
    with qtbot.waitSignal(marker.pong, timeout=WAIT_S * 1000):
        marker.ping.emit()


def quick(name: str):
    def task(should_stop, report):
        report(f"{name} progress", True)
        return name
    return task


def test_a_late_answer_of_a_replaced_run_is_dropped(qtbot, runner):
    reported, cancelled = threading.Event(), []

    def slow(should_stop, report):
        report("old progress", True)
        reported.set()
        while not should_stop():
            threading.Event().wait(0.005)
        cancelled.append(True)
        report("old late progress", True)  # after the cancel: queued behind the new run's start
        return "old"

    old_id = runner.start(slow, threads=0)
    assert reported.wait(WAIT_S)  # its first answer is queued, not delivered: the event loop has not run
    with qtbot.waitSignal(runner.finished, timeout=WAIT_S * 1000):
        new_id = runner.start(quick("new"), threads=0)  # cancels and joins the old run first
    assert new_id > old_id and cancelled == [True]
    assert runner.answers == [("progress", "new progress"), ("result", "new"), ("finished", False)]


def test_a_run_joined_by_shutdown_delivers_nothing_more(qtbot, runner):
    returned = threading.Event()

    def task(should_stop, report):
        report("joined progress", True)
        returned.set()
        return "joined"

    runner.start(task, threads=0)
    assert returned.wait(WAIT_S)  # its progress, result and done are queued
    assert runner.shutdown(10.0) and not runner.is_running()
    flush_queued_calls(qtbot)
    assert runner.answers == []


def test_finished_comes_after_every_answer_of_its_run_and_a_failure_is_one_line(qtbot, runner):
    def failing(should_stop, report):
        for i in range(50):
            report(i, True)
        raise ValueError("bad input\nmore detail")

    with qtbot.waitSignal(runner.finished, timeout=WAIT_S * 1000):
        runner.start(failing, threads=0)
    assert runner.answers == [("progress", i) for i in range(50)] + [("failed", "bad input"), ("finished", False)]


def test_cancel_and_shutdown_call_the_runs_own_stop(qtbot, runner):
    stopped, started = [], threading.Event()

    def waits(should_stop, report):
        started.set()
        while not should_stop():
            threading.Event().wait(0.005)
        return "cancelled"

    runner.start(waits, threads=0, on_cancel=lambda: stopped.append("cancel"))
    assert started.wait(WAIT_S)
    with qtbot.waitSignal(runner.finished, timeout=WAIT_S * 1000):
        runner.cancel()
    assert stopped == ["cancel"] and runner.answers[-2:] == [("result", "cancelled"), ("finished", False)]
    started.clear()
    runner.start(waits, threads=0, on_cancel=lambda: stopped.append("shutdown"))
    assert started.wait(WAIT_S)
    assert runner.shutdown(10.0) and stopped == ["cancel", "shutdown"]
