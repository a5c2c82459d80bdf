"""label_priors against direct counting, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multilabel_ls import PositiveIndices, multilabel_smoothing_loss
from multilabel_ls.priors import label_priors


def test_sigmoid_prior_is_the_column_mean():
    rng = np.random.default_rng(0)
    Y = (rng.random((200, 7)) < rng.random(7)).astype(np.uint8)
    np.testing.assert_allclose(label_priors(Y).numpy(), Y.mean(0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        label_priors(torch.from_numpy(Y).bool()).numpy(), Y.mean(0), rtol=0, atol=1e-15
    )
    sp = PositiveIndices.from_dense(torch.from_numpy(Y))
    np.testing.assert_allclose(label_priors(sp).numpy(), Y.mean(0), rtol=0, atol=1e-15)


def test_softmax_prior_is_the_label_frequency_distribution():
    Y = np.array([[1, 1, 0, 0], [1, 0, 0, 1], [1, 0, 0, 0]])
    pi = label_priors(Y, kind="softmax")
    np.testing.assert_allclose(pi.numpy(), [3 / 5, 1 / 5, 0, 1 / 5])
    # usable as the prior of prior_softmax (sums to 1)
    loss = multilabel_smoothing_loss(
        torch.zeros(3, 4), torch.from_numpy(Y), strategy="prior_softmax", epsilon=0.1, prior=pi
    )
    assert torch.isfinite(loss)


def test_ignore_mask_and_pseudo_counts():
    Y = np.array([[1, 0], [0, 0], [1, 1]])
    mask = np.array([[False, True], [True, False], [False, False]])
    np.testing.assert_allclose(label_priors(Y, ignore_mask=mask).numpy(), [1.0, 0.5])
    np.testing.assert_allclose(label_priors(Y, pseudo_count=0.5).numpy(), [2.5 / 4, 1.5 / 4])
    np.testing.assert_allclose(
        label_priors(Y, kind="softmax", pseudo_count=1).numpy(), [3 / 5, 2 / 5]
    )


def test_errors():
    with pytest.raises(ValueError, match=r"kind must be one of"):
        label_priors(np.zeros((2, 2)), kind="uniform")
    with pytest.raises(ValueError, match=r"labels must be 0/1, found labels\[0, 1\] = 0.5"):
        label_priors(np.array([[1, 0.5]]))
    with pytest.raises(ValueError, match=r"labels must be 2-D"):
        label_priors(np.zeros(3))
    with pytest.raises(ValueError, match=r"labels contain NaN"):
        label_priors(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"pseudo_count must be a finite number >= 0"):
        label_priors(np.zeros((2, 2)), pseudo_count=-1)
    with pytest.raises(ValueError, match=r"label 1 is never known"):
        label_priors(np.zeros((2, 2)), ignore_mask=np.array([[False, True], [False, True]]))
    with pytest.raises(ValueError, match=r"no positive label at all"):
        label_priors(np.zeros((2, 2)), kind="softmax")
    with pytest.raises(ValueError, match=r"ignore_mask must be a bool array"):
        label_priors(np.zeros((2, 2)), ignore_mask=np.zeros((2, 2)))
