"""multilabel_ls.desmooth: argument handling (the maps themselves are proven in test_07)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multilabel_ls import STRATEGIES
from multilabel_ls.desmooth import NotIdentifiableError, desmooth_probabilities, desmooth_shares


def _kw(strategy, N=4):
    if strategy.startswith("asymmetric"):
        return {"epsilon_pos": 0.1, "epsilon_neg": 0.05}
    kw = {"epsilon": 0.1}
    if strategy.startswith("prior"):
        kw["prior"] = torch.full((N,), 1 / N if strategy == "prior_softmax" else 0.3)
    return kw


def _probs(strategy, shape=(3, 4)):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    return (
        torch.sigmoid(x)
        if strategy in ("binary", "binary_uniform", "mass_preserving", "asymmetric", "prior")
        else torch.softmax(x, 1)
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_has_an_answer(strategy):
    p = _probs(strategy)
    kw = _kw(strategy)
    softmax = p.sum(1).allclose(torch.ones(3, dtype=torch.float64))
    if strategy in (
        "uniform",
        "prior_softmax",
        "positive_split",
        "unnormalized",
        "asymmetric_softmax",
    ):
        assert softmax
        with pytest.raises(NotIdentifiableError, match=strategy):
            desmooth_probabilities(p, strategy=strategy, **kw)
        out = desmooth_probabilities(p, strategy=strategy, num_positives=1, **kw)
    else:
        out = desmooth_probabilities(p, strategy=strategy, **kw)
    assert out.shape == p.shape and out.dtype == p.dtype
    if strategy in ("uniform", "prior_softmax"):
        assert (
            desmooth_shares(p, strategy=strategy, **kw)
            .sum(1)
            .allclose(torch.ones(3, dtype=torch.float64))
        )
    else:
        with pytest.raises(NotIdentifiableError, match=strategy):
            desmooth_shares(p, strategy=strategy, **kw)


def test_types_shapes_and_clip():
    p = np.array([[0.99, 0.01, 0.5]], dtype=np.float32)
    out = desmooth_probabilities(p, strategy="binary", epsilon=0.1)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert out.min() < 0 and out.max() > 1  # beyond the optimum: outside [0, 1]
    clipped = desmooth_probabilities(p, strategy="binary", epsilon=0.1, clip=True)
    assert clipped.min() == 0 and clipped.max() == 1
    seg = torch.rand(2, 5, 3, 3)  # (B, N, H, W): labels on dim 1
    assert desmooth_probabilities(seg, strategy="mass_preserving", epsilon=0.2).shape == seg.shape
    sm = torch.softmax(torch.randn(2, 5, 3), 1)
    n = torch.tensor([[1.0, 2.0, 3.0], [2.0, 2.0, 1.0]])  # per-row counts, row shape (B, d1)
    assert (
        desmooth_probabilities(sm, strategy="uniform", epsilon=0.1, num_positives=n).shape
        == sm.shape
    )


def test_errors():
    p = torch.tensor([[0.6, 0.3, 0.1]], dtype=torch.float64)
    with pytest.raises(ValueError, match="num_positives is not used"):
        desmooth_probabilities(p, strategy="binary", epsilon=0.1, num_positives=1)
    with pytest.raises(NotIdentifiableError, match="epsilon = 1"):
        desmooth_probabilities(p, strategy="binary", epsilon=1.0)
    with pytest.raises(NotIdentifiableError, match="epsilon_pos"):
        desmooth_probabilities(p, strategy="asymmetric", epsilon_pos=0.5, epsilon_neg=0.5)
    with pytest.raises(ValueError, match="softmax outputs"):
        desmooth_probabilities(p * 0.5, strategy="unnormalized", epsilon=0.1, num_positives=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        desmooth_probabilities(p + 1, strategy="binary", epsilon=0.1)
    with pytest.raises(ValueError, match="row shape"):
        desmooth_probabilities(p, strategy="uniform", epsilon=0.1, num_positives=torch.ones(2))
    with pytest.raises(ValueError, match=r"\(0, N\]"):
        desmooth_probabilities(p, strategy="uniform", epsilon=0.1, num_positives=0)
    with pytest.raises(ValueError, match="< N"):
        desmooth_probabilities(p, strategy="positive_split", epsilon=0.1, num_positives=3)
    with pytest.raises(ValueError, match="unknown strategy"):
        desmooth_probabilities(p, strategy="nope", epsilon=0.1)
    with pytest.raises(TypeError):
        desmooth_probabilities([[0.5]], strategy="binary", epsilon=0.1)
    with pytest.raises(ValueError, match="prior has length"):
        desmooth_probabilities(p, strategy="prior", epsilon=0.1, prior=[0.1, 0.2])
    assert issubclass(NotIdentifiableError, ValueError)
