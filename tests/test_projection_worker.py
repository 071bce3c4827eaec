"""The projection worker: the same layouts as in-process, crashes, overruns, a busy queue."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from symsim_widgets.exploration import ExplorationNode
from symsim_widgets.projection import project
from symsim_widgets.projection_worker import (
    AUTHKEY_ENV,
    SOCKET_ENV,
    ProjectionWorkerError,
    ProjectionWorkerWarning,
    configured_worker,
    project_in_worker,
    start_worker,
    use_worker,
    worker_status,
)


def _clusters(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(5, d)) * 3
    return (centres[rng.integers(0, 5, n)] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def worker():
    with start_worker() as running:
        yield running


def test_layouts_from_the_worker_equal_those_made_in_process(worker, monkeypatch):
    x = _clusters(300)
    init = project(x[:120], method="pca")
    for params in ({"seed": 0}, {"seed": 3, "init": init, "n_neighbors": 10}):
        rows = x if "init" not in params else x[:120]
        remote = project_in_worker(rows, params, worker=(worker.address, worker.key))
        np.testing.assert_array_equal(remote, project(rows, **params))
    # A tree (what a dashboard kernel drills with) sends its projections there when the
    # environment names the worker, with the same result.
    here = ExplorationNode.from_embeddings(x, seed=0)
    child_here = here.child(np.arange(0, 300, 2))
    monkeypatch.setenv(SOCKET_ENV, worker.address)
    monkeypatch.setenv(AUTHKEY_ENV, worker.key.hex())
    served = worker_status()["served"]
    there = ExplorationNode.from_embeddings(x, seed=0)
    child_there = there.child(np.arange(0, 300, 2))
    assert worker_status()["served"] == served + 2  # the root and the child
    np.testing.assert_array_equal(there.coords, here.coords)
    np.testing.assert_array_equal(child_there.coords, child_here.coords)


def test_projection_errors_come_back_in_words(worker):
    with pytest.raises(ProjectionWorkerError, match="projection failed: n_neighbors must be"):
        project_in_worker(_clusters(50), {"n_neighbors": 1}, worker=(worker.address, worker.key))


def _kill_projector_during_a_request(worker, retries: int):
    """Send a request of a few seconds and kill the projector while it runs it."""
    address = (worker.address, worker.key)
    outcome: dict = {}

    def request() -> None:
        try:
            with pytest.warns(ProjectionWorkerWarning) if retries else _nothing():
                outcome["coords"] = project_in_worker(
                    _clusters(4000), {"n_epochs": 400}, worker=address, retries=retries
                )
        except Exception as exc:  # checked by the caller
            outcome["error"] = exc

    thread = threading.Thread(target=request)
    thread.start()
    deadline = time.monotonic() + 120
    while not worker_status(address)["busy"]:
        assert time.monotonic() < deadline, "the request never started"
        time.sleep(0.05)
    pid = worker_status(address)["projector_pid"]
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    thread.join(600)
    return outcome, pid


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_crashed_projector_is_restarted_and_the_request_sent_again(worker):
    outcome, killed = _kill_projector_during_a_request(worker, retries=1)
    assert "error" not in outcome, outcome.get("error")
    np.testing.assert_array_equal(outcome["coords"], project(_clusters(4000), n_epochs=400))
    assert worker_status((worker.address, worker.key))["projector_pid"] != killed


def test_without_retries_a_crash_is_reported_in_words(worker):
    outcome, _ = _kill_projector_during_a_request(worker, retries=0)
    assert isinstance(outcome.get("error"), ProjectionWorkerError)
    assert "crashed while projecting 4,000 points" in str(outcome["error"])
    assert "restarted" in str(outcome["error"])


def test_a_long_projection_is_stopped_and_a_full_queue_turns_requests_down():
    with start_worker(max_waiting=0, time_limit=1.5) as small:
        address = (small.address, small.key)
        project_in_worker(_clusters(100), {}, worker=address)  # the projector is warm
        results: dict = {}

        def long_request() -> None:
            try:
                project_in_worker(_clusters(6000), {"n_epochs": 2000}, worker=address)
            except ProjectionWorkerError as exc:
                results["long"] = str(exc)

        thread = threading.Thread(target=long_request)
        thread.start()
        while not worker_status(address)["busy"]:
            time.sleep(0.05)
        with pytest.raises(ProjectionWorkerError, match=r"busy.*try again"):
            project_in_worker(_clusters(100), {}, worker=address)
        thread.join(120)
        assert "took longer than 1.5 s and was stopped" in results["long"]
        # the projector was restarted: the next request is served
        assert project_in_worker(_clusters(100), {}, worker=address).shape == (100, 2)


def test_a_missing_worker_and_bad_settings_are_named(tmp_path):
    gone = (str(tmp_path / "no.sock"), b"key")
    with pytest.raises(ProjectionWorkerError, match=r"projection worker .* is not running"):
        project_in_worker(_clusters(20), {}, worker=gone)
    with pytest.raises(ValueError, match="max_waiting must be 0 or more"):
        start_worker(max_waiting=-1)
    with pytest.raises(ValueError, match="time_limit must be positive"):
        start_worker(time_limit=0)


def test_use_worker_sends_this_process_projections_and_restores_the_environment(monkeypatch):
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    monkeypatch.delenv(AUTHKEY_ENV, raising=False)
    x = _clusters(300)
    here = ExplorationNode.from_embeddings(x, seed=0).child(np.arange(0, 300, 2))
    with use_worker() as running:
        assert configured_worker() == (running.address, running.key)
        there = ExplorationNode.from_embeddings(x, seed=0).child(np.arange(0, 300, 2))
        assert worker_status()["served"] == 2  # the root and the child were projected there
    np.testing.assert_array_equal(there.coords, here.coords)
    assert configured_worker() is None
    monkeypatch.setenv(SOCKET_ENV, "/elsewhere.sock")
    with use_worker():
        pass
    assert os.environ[SOCKET_ENV] == "/elsewhere.sock"  # what was set before is back
