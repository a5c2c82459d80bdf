"""Score conventions: what a strategy's logits mean for ranking and for calibration.

Ranking scores (mAP, LRAP, ranking loss, coverage, one-error)
    AP ranks the *samples* of one label, so a label's score must be comparable across
    samples. A sigmoid strategy's logit is (its per-label log-odds), so it is used as is. A
    softmax strategy's logits are defined only up to a per-row constant (``softmax(x + c) =
    softmax(x)``), so raw logits of different rows are not comparable; the row's
    **log-softmax** ``x_j - logsumexp(x)`` is. The per-row metrics (LRAP, ranking loss,
    coverage, one-error) are unchanged by the per-row shift, so they see the same ranking.

Presence probabilities (ECE, Brier, NLL, Hamming loss, F1)
    Sigmoid strategies: ``σ(x_j)``, the model's probability that label ``j`` is present.
    Softmax strategies model a distribution over labels that sums to 1, not per-label
    presence; there is no presence probability to calibrate. The experiments use the
    **cardinality-scaled proxy** ``p_j = clip(c̄ · softmax(x)_j, 0, 1)`` with ``c̄`` the mean
    number of positives per row of the labels the model was trained on (a row that predicts
    its labels perfectly and uniformly then gives ``p = 1`` to each of its ``c̄`` labels).
    It is a heuristic read-out, not a property of the softmax objective; the report labels
    every calibration number of a softmax strategy as such.
"""

from __future__ import annotations

import numpy as np
import torch

FAMILIES = ("sigmoid", "softmax")


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")


def _as_tensor(logits) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(logits) if not isinstance(logits, torch.Tensor) else logits)
    if t.ndim != 2:
        raise ValueError(f"logits must be 2-D (n_samples, n_labels), got shape {tuple(t.shape)}")
    return t.detach().to(torch.float64)


def ranking_scores(logits, family: str) -> np.ndarray:
    """Per-label scores comparable across samples (float64 ``(n, N)``).

    Parameters
    ----------
    logits : array or tensor of shape (n_samples, n_labels)
    family : {"sigmoid", "softmax"}
        The loss family of the strategy that trained the logits.

    Returns
    -------
    ndarray
        The logits (sigmoid) or the row-wise log-softmax (softmax).

    Examples
    --------
    Shifting a row changes nothing for a softmax strategy:

    >>> import numpy as np
    >>> x = np.array([[2.0, 0.0], [12.0, 10.0]])
    >>> ranking_scores(x, "softmax").round(4)
    array([[-0.1269, -2.1269],
           [-0.1269, -2.1269]])
    """
    _check_family(family)
    x = _as_tensor(logits)
    if family == "softmax":
        x = torch.log_softmax(x, dim=1)
    return x.numpy()


def presence_probabilities(logits, family: str, *, cardinality: float | None = None) -> np.ndarray:
    """Per-label presence probabilities for calibration and thresholded metrics (float64).

    Parameters
    ----------
    logits : array or tensor of shape (n_samples, n_labels)
    family : {"sigmoid", "softmax"}
    cardinality : float, optional
        ``c̄`` for the softmax proxy ``clip(c̄ · softmax(x), 0, 1)`` (required for softmax).

    Returns
    -------
    ndarray
        ``σ(x)`` (sigmoid) or ``clip(c̄ · softmax(x), 0, 1)`` (softmax).

    Examples
    --------
    >>> import numpy as np
    >>> presence_probabilities(np.array([[0.0, 0.0, 0.0, 0.0]]), "softmax", cardinality=2)
    array([[0.5, 0.5, 0.5, 0.5]])
    """
    _check_family(family)
    x = _as_tensor(logits)
    if family == "sigmoid":
        return torch.sigmoid(x).numpy()
    if cardinality is None or not np.isfinite(cardinality) or cardinality <= 0:
        raise ValueError(
            f"cardinality must be a positive number for softmax probabilities, got {cardinality!r}"
        )
    return torch.clamp(float(cardinality) * torch.softmax(x, dim=1), 0.0, 1.0).numpy()
