"""PoolJobs: only the newest generation's answers are delivered (gui/jobs/pool_jobs.py), the helper behind opening a
source, the dataset preview, the forward view's x_0, thumbnails and the dataset check."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("pytestqt")

from ddpm_studio.gui.jobs.pool_jobs import PoolJobs

WAIT_S = 30  # bounds on waits for a pool thread: never a timing assertion


@pytest.fixture
def jobs(qtbot):
    jobs = PoolJobs()
    jobs.answers = []
    jobs.answered.connect(jobs.answers.append)
    yield jobs
    assert jobs.shutdown(10.0)


def answer(value):
    def job(should_stop, report):
        report(value)
    return job


def test_a_stale_generations_answers_are_dropped_and_its_queued_jobs_never_run(qtbot, jobs):
    release, started, seen_stop, ran = threading.Event(), threading.Event(), [], []

    def old(should_stop, report):
        started.set()
        assert release.wait(WAIT_S)
        report("old")  # answered after the request was replaced
        seen_stop.append(should_stop())

    jobs.submit(old)
    jobs.submit(lambda should_stop, report: ran.append("queued old"))  # one thread: waits behind `old`
    assert started.wait(WAIT_S)
    assert jobs.renew() == jobs.generation == 1
    jobs.submit(answer("new"))
    with qtbot.waitSignal(jobs.answered, timeout=WAIT_S * 1000):
        release.set()
    assert jobs.answers == ["new"] and seen_stop == [True] and ran == []


def test_every_answer_of_the_current_generation_arrives_in_order(qtbot, jobs):
    def several(should_stop, report):
        for i in range(5):
            report(i)

    jobs.submit(several)
    qtbot.waitUntil(lambda: len(jobs.answers) == 5, timeout=WAIT_S * 1000)
    assert jobs.answers == [0, 1, 2, 3, 4]


def test_a_failing_job_is_logged_and_the_pool_goes_on(qtbot, jobs, caplog):
    def broken(should_stop, report):
        raise RuntimeError("a bug in a job")

    jobs.submit(broken)
    with qtbot.waitSignal(jobs.answered, timeout=WAIT_S * 1000):
        jobs.submit(answer("after"))
    assert jobs.answers == ["after"] and "background job failed" in caplog.text
