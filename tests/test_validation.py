"""Bad input: each a clear error naming the argument and the value."""

from __future__ import annotations

import pytest
import torch

from multilabel_ls import (
    SIGMOID_STRATEGIES,
    SOFTMAX_STRATEGIES,
    STRATEGIES,
    PositiveIndices,
    get_strategy,
    make_config,
    multilabel_smoothing_loss,
    smooth_targets,
)

X = torch.zeros(2, 3)
Y = torch.tensor([[1, 0, 1], [0, 1, 0]])


def loss(x=X, y=Y, **kw):
    kw.setdefault("strategy", "binary")
    return multilabel_smoothing_loss(x, y, **kw)


def test_public_names_are_fixed():
    assert STRATEGIES[:6] == (
        "binary", "binary_uniform", "mass_preserving", "asymmetric", "prior", "uniform",
    ) or set(STRATEGIES) >= {"binary", "binary_uniform", "mass_preserving", "uniform",
                             "positive_split", "unnormalized"}  # fmt: skip
    assert set(SIGMOID_STRATEGIES) == {
        "binary",
        "binary_uniform",
        "mass_preserving",
        "asymmetric",
        "prior",
    }
    assert set(SOFTMAX_STRATEGIES) == {
        "uniform", "positive_split", "unnormalized", "asymmetric_softmax", "prior_softmax",
    }  # fmt: skip
    for s in STRATEGIES:
        assert get_strategy(s).name == s


@pytest.mark.parametrize("eps", [-0.1, 1.5, float("nan"), float("inf")])
def test_epsilon_out_of_range(eps):
    with pytest.raises(ValueError, match=r"epsilon must lie in \[0, 1\], got"):
        loss(epsilon=eps)


def test_epsilon_wrong_type():
    with pytest.raises(TypeError, match=r"epsilon must be a real number"):
        loss(epsilon="0.1")
    with pytest.raises(TypeError, match=r"epsilon must be a real number"):
        loss(epsilon=True)


def test_unknown_strategy_lists_valid_ones():
    with pytest.raises(
        ValueError, match=r"unknown strategy='keras'; valid strategies: binary, binary_uniform"
    ):
        loss(strategy="keras")


def test_asymmetric_parameters():
    with pytest.raises(ValueError, match=r"takes epsilon_pos and epsilon_neg, not epsilon"):
        make_config("asymmetric", epsilon=0.1)
    with pytest.raises(ValueError, match=r"needs both epsilon_pos and epsilon_neg"):
        make_config("asymmetric_softmax", epsilon_pos=0.1)
    with pytest.raises(ValueError, match=r"epsilon_pos \+ epsilon_neg must be <= 1"):
        make_config("asymmetric", epsilon_pos=0.7, epsilon_neg=0.6)
    with pytest.raises(ValueError, match=r"epsilon_neg must lie"):
        make_config("asymmetric", epsilon_pos=0.1, epsilon_neg=-0.01)
    with pytest.raises(ValueError, match=r"epsilon_pos=0.1 is only used by the asymmetric"):
        make_config("binary", epsilon=0.1, epsilon_pos=0.1)


def test_prior_errors():
    with pytest.raises(ValueError, match=r"needs prior="):
        make_config("prior", epsilon=0.1)
    with pytest.raises(ValueError, match=r"prior= is only used by"):
        make_config("binary", epsilon=0.1, prior=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"prior must lie in \[0, 1\]; prior\[1\] = 1.5"):
        make_config("prior", epsilon=0.1, prior=[0.5, 1.5])
    with pytest.raises(ValueError, match=r"non-finite"):
        make_config("prior", epsilon=0.1, prior=[0.5, float("nan")])
    with pytest.raises(ValueError, match=r"must sum to 1, sums to 0.7"):
        make_config("prior_softmax", epsilon=0.1, prior=[0.5, 0.2])
    with pytest.raises(ValueError, match=r"1-D"):
        make_config("prior", epsilon=0.1, prior=[[0.5]])
    with pytest.raises(ValueError, match=r"prior has length 2 but"):
        loss(strategy="prior", epsilon=0.1, prior=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"prior sums to zero over the known labels"):
        smooth_targets(
            torch.tensor([[1, 0, 0]]), strategy="prior_softmax", epsilon=0.1,
            prior=[1.0, 0.0, 0.0], ignore_mask=torch.tensor([[True, False, False]]),
        )  # fmt: skip


def test_policy_errors():
    with pytest.raises(ValueError, match=r"empty_rows must be one of"):
        make_config("uniform", epsilon=0.1, empty_rows="drop")


def test_logits_errors():
    with pytest.raises(TypeError, match=r"logits must be a torch.Tensor, got list"):
        loss(x=[[0.0, 1.0, 2.0]])
    with pytest.raises(TypeError, match=r"logits must be floating.*torch.int64"):
        loss(x=torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"logits must have shape \(B, N, ...\)"):
        loss(x=torch.zeros(3), y=torch.zeros(3))


def test_target_errors():
    with pytest.raises(
        ValueError, match=r"target shape \(2, 4\) does not match logits shape \(2, 3\)"
    ):
        loss(y=torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"target is on meta but logits are on cpu"):
        loss(y=torch.zeros(2, 3, device="meta"))
    with pytest.raises(
        TypeError, match=r"target must be a torch.Tensor or PositiveIndices, got ndarray"
    ):
        loss(y=Y.numpy())
    with pytest.raises(TypeError, match=r"complex"):
        loss(y=torch.zeros(2, 3, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"target contains NaN"):
        loss(y=torch.tensor([[1.0, float("nan"), 0.0], [0.0, 1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"in \{0, 1\}.*found 0.9.*soft_targets=True"):
        loss(y=torch.tensor([[0.9, 0.1, 0.0], [0.0, 1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"in \{0, 1\} for an integer target, found 2"):
        loss(y=torch.tensor([[2, 0, 1], [0, 1, 0]]))
    with pytest.raises(ValueError, match=r"found -1.*ignore_index=-1"):
        loss(y=torch.tensor([[-1, 0, 1], [0, 1, 0]]))
    with pytest.raises(ValueError, match=r"in \[0, 1\], found 1.5"):
        loss(y=torch.tensor([[1.5, 0.0, 1.0], [0.0, 1.0, 0.0]]), soft_targets=True)
    with pytest.raises(ValueError, match=r"soft_targets=True needs a floating target"):
        loss(soft_targets=True)
    with pytest.raises(ValueError, match=r"requires_grad"):
        loss(y=Y.float().requires_grad_())


def test_ignore_errors():
    with pytest.raises(ValueError, match=r"ignore_index=1 collides"):
        loss(ignore_index=1)
    with pytest.raises(ValueError, match=r"cannot mark a bool target"):
        loss(y=Y.bool(), ignore_index=-100)
    with pytest.raises(TypeError, match=r"ignore_mask must be a bool tensor.*torch.int64"):
        loss(ignore_mask=torch.zeros(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"ignore_mask shape"):
        loss(ignore_mask=torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"ignore_index must be a number"):
        loss(ignore_index="x")


def test_sparse_errors():
    with pytest.raises(
        ValueError, match=r"indices\[2\] = 3 \(row 1\) is not in \[0, num_labels=3\)"
    ):
        PositiveIndices.from_lists([[0, 1], [3]], num_labels=3)
    with pytest.raises(ValueError, match=r"duplicate positive index"):
        PositiveIndices.from_lists([[0, 0]], num_labels=3)
    with pytest.raises(ValueError, match=r"offsets\[0\] must be 0"):
        PositiveIndices(torch.tensor([0]), torch.tensor([1, 1]), 3)
    with pytest.raises(ValueError, match=r"non-decreasing"):
        PositiveIndices(torch.tensor([0, 1]), torch.tensor([0, 2, 1, 2]), 3)
    with pytest.raises(ValueError, match=r"must equal len"):
        PositiveIndices(torch.tensor([0, 1]), torch.tensor([0, 1]), 3)
    with pytest.raises(TypeError, match=r"indices must be an integer tensor"):
        PositiveIndices(torch.tensor([0.0]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match=r"num_labels must be a positive int"):
        PositiveIndices(torch.tensor([0]), torch.tensor([0, 1]), 0)
    sp = PositiveIndices.from_lists([[0], [1, 2]], num_labels=3)
    with pytest.raises(ValueError, match=r"sparse PositiveIndices targets need 2-D logits"):
        loss(x=torch.zeros(2, 3, 1), y=sp)
    with pytest.raises(ValueError, match=r"has shape \(2, 3\)"):
        loss(x=torch.zeros(3, 3), y=sp)
    with pytest.raises(ValueError, match=r"with PositiveIndices use ignore_mask"):
        loss(y=sp, ignore_index=-1)


def test_weight_errors():
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        loss(weight=torch.ones(4))
    with pytest.raises(ValueError, match=r"weight must be finite and non-negative"):
        loss(weight=torch.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(TypeError, match=r"pos_weight must be floating"):
        loss(pos_weight=torch.ones(3, dtype=torch.int64))
    with pytest.raises(
        ValueError, match=r"pos_weight is not defined for the softmax strategy 'uniform'"
    ):
        loss(strategy="uniform", epsilon=0.1, pos_weight=torch.ones(3))
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        loss(reduction="batchmean")
