"""Micro-batching: calls queued while the model is busy run as one forward pass and each gets its own rows'
results; a failure reaches every caller of its batch; a lone call runs alone; real MLP results are the
single-call results within float tolerance."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from engines.ml.compute.batching import MicroBatcher


def until(cond, timeout_s: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_batcher_when_calls_queue_behind_a_busy_model_then_one_forward_serves_them_all():
    gate, seen = threading.Event(), []

    def forward(x: np.ndarray) -> np.ndarray:
        seen.append(x.shape[0])
        if len(seen) == 1:
            gate.wait(10)
        return x.sum(axis=1)

    b = MicroBatcher(forward)
    inputs = [np.full((k + 1, 2), float(k)) for k in range(4)]
    results: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, b(inputs[k]))) for k in range(4)]
    threads[0].start()
    until(lambda: len(seen) == 1)  # the first call is in its forward pass
    for t in threads[1:]:
        t.start()
    until(lambda: b.requests == 4)  # the other three are queued
    gate.set()
    for t in threads:
        t.join(10)
    assert seen == [1, 2 + 3 + 4] and b.forward_calls == 2
    for k in range(4):
        assert np.array_equal(results[k], inputs[k].sum(axis=1))


def test_batcher_when_forward_fails_then_every_caller_of_the_batch_gets_the_error():
    def forward(x: np.ndarray) -> np.ndarray:
        raise RuntimeError("device lost")

    b = MicroBatcher(forward)
    with pytest.raises(RuntimeError, match="device lost"):
        b(np.ones((3, 2)))
    assert b.forward_calls == 1 and not b._busy  # the model is free again


def test_batcher_when_mlp_called_from_threads_then_each_equals_its_single_call():
    import torch

    from engines.ml.compute import nets
    from engines.ml.models.direction import MlpSpec

    torch.manual_seed(0)
    net = nets.build(MlpSpec(model_type="mlp", hidden=[16]), 8).eval()
    b = MicroBatcher(lambda x: nets.predict_proba(net, x))
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(int(rng.integers(1, 50)), 8)) for _ in range(40)]
    single = [nets.predict_proba(net, x) for x in xs]
    out: dict[int, np.ndarray] = {}

    def work(ids: range) -> None:
        for i in ids:
            out[i] = b(xs[i])

    threads = [threading.Thread(target=work, args=(range(k, 40, 4),)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert b.requests == 40 and b.forward_calls <= 40
    for i in range(40):
        np.testing.assert_allclose(out[i], single[i], rtol=1e-5, atol=1e-7)
