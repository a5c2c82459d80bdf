"""Label-ranking metrics: LRAP, ranking loss, coverage error and one-error.

Each sample ranks its labels by score; all four metrics are per-sample values averaged over
samples, computed from the same sorted-row statistics as average precision
(``_sorted_stats``), so they accept raw logits (they only use the order) and treat ties the
way scikit-learn does. Samples whose labels are all masked by ``ignore_mask`` are left out of
the mean.
"""

from __future__ import annotations

import numpy as np

from ._inputs import Prepared, check_option, per_row_valid_count, prepare, to_numpy, warn
from ._sorted_stats import row_stats

METRICS = ("lrap", "ranking_loss", "coverage", "one_error")


def per_sample(data: Prepared, metric: str, ties: str = "pessimistic"):
    """Per-sample values and the boolean array of samples that count (shared with streaming)."""
    st = row_stats(data, "rows")
    n_labels = data.shape[1]
    n_valid = np.asarray(to_numpy(per_row_valid_count(data.valid, n_labels, 1)), np.int64)
    n_valid = np.broadcast_to(n_valid, st.n_pos.shape)
    counts = n_valid > 0
    P = st.n_pos
    degenerate = (P == 0) | (P == n_valid)
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "lrap":
            vals = np.where(degenerate, 1.0, st.ap_sum / P)
        elif metric == "ranking_loss":
            vals = np.where(degenerate, 0.0, st.rl_sum / (P * (n_valid - P)))
        elif metric == "coverage":
            vals = st.coverage.astype(np.float64)
        elif ties == "pessimistic":
            vals = (st.top_pos < st.top_cnt).astype(np.float64)
        else:
            vals = 1.0 - st.top_pos / st.top_cnt
    return vals, counts


def _mean(data: Prepared, metric: str, ties: str = "pessimistic") -> float:
    vals, counts = per_sample(data, metric, ties)
    if not counts.any():
        warn("every label of every sample is masked by ignore_mask; the result is NaN.")
        return float("nan")
    return float(vals[counts].mean())


def label_ranking_average_precision(y_true, y_score, *, ignore_mask=None) -> float:
    r"""Label ranking average precision (LRAP), identical to scikit-learn's.

    .. math::

        \mathrm{LRAP} = \frac{1}{N}\sum_{i=1}^{N} \frac{1}{|Y_i|} \sum_{j \in Y_i}
        \frac{|\{k \in Y_i : s_{ik} \ge s_{ij}\}|}{|\{k : s_{ik} \ge s_{ij}\}|},

    with :math:`Y_i` the positive labels of sample :math:`i`. Ties take the maximal
    (pessimistic) rank, as ``scipy.stats.rankdata(..., "max")`` in scikit-learn. It equals the
    AP of each sample's row (``average_precision(..., average="samples")``) except for samples
    with no positive label or only positive labels, which score 1 here (scikit-learn's
    convention: the ranking is meaningless) and are counted in the mean.

    Parameters
    ----------
    y_true : array of shape (n_samples, n_labels)
        Hard 0/1 labels.
    y_score : array of shape (n_samples, n_labels)
        Scores, probabilities or logits (only their order within a row matters); ``±inf``
        allowed, NaN raises.
    ignore_mask : bool array of the same shape, optional
        ``True`` removes the entry from its sample's ranking.

    Returns
    -------
    float

    References
    ----------
    .. [1] G. Tsoumakas, I. Katakis, I. Vlahavas, "Mining Multi-label Data", Data Mining and
       Knowledge Discovery Handbook, Springer, 2010.
    .. [2] scikit-learn, ``sklearn.metrics.label_ranking_average_precision_score``.

    Examples
    --------
    >>> label_ranking_average_precision([[1, 0, 0], [0, 0, 1]], [[0.75, 0.5, 1], [1, 0.2, 0.1]])
    0.41666666666666663
    """
    return _mean(prepare(y_true, y_score, ignore_mask, allow_1d=False), "lrap")


def label_ranking_loss(y_true, y_score, *, ignore_mask=None) -> float:
    r"""Ranking loss: the fraction of (positive, negative) label pairs ordered wrongly, per sample.

    .. math::

        \mathrm{RL} = \frac{1}{N}\sum_{i} \frac{|\{(j, k) : j \in Y_i,\ k \notin Y_i,\
        s_{ij} \le s_{ik}\}|}{|Y_i|\,(L_i - |Y_i|)},

    identical to scikit-learn's ``label_ranking_loss``: a tied positive/negative pair counts as
    mis-ordered (torchmetrics breaks ties arbitrarily and disagrees when there are ties).
    Samples with no positive or no negative label score 0 and are counted. :math:`L_i` is the
    number of labels of sample :math:`i` not masked.

    Parameters
    ----------
    y_true, y_score, ignore_mask
        As in :func:`label_ranking_average_precision`.

    Returns
    -------
    float

    References
    ----------
    .. [1] R. E. Schapire, Y. Singer, "BoosTexter: A boosting-based system for text
       categorization", Machine Learning 39, 2000.
    .. [2] scikit-learn, ``sklearn.metrics.label_ranking_loss``.

    Examples
    --------
    >>> label_ranking_loss([[1, 0, 0], [0, 0, 1]], [[0.75, 0.5, 1], [1, 0.2, 0.1]])
    0.75
    """
    return _mean(prepare(y_true, y_score, ignore_mask, allow_1d=False), "ranking_loss")


def coverage_error(y_true, y_score, *, ignore_mask=None) -> float:
    r"""Coverage error: how far down the ranking one must go to cover every positive label.

    .. math::

        \mathrm{coverage} = \frac{1}{N}\sum_i |\{k : s_{ik} \ge \min_{j \in Y_i} s_{ij}\}|,

    identical to scikit-learn's ``coverage_error`` (ties take the maximal rank). This is 1
    more than the definition of Tsoumakas et al. (2010); the best value is the mean number of
    positive labels. A sample with no positive label scores 0 and is counted.

    Parameters
    ----------
    y_true, y_score, ignore_mask
        As in :func:`label_ranking_average_precision`; masked labels are not counted.

    Returns
    -------
    float

    References
    ----------
    .. [1] G. Tsoumakas, I. Katakis, I. Vlahavas, "Mining Multi-label Data", 2010.
    .. [2] scikit-learn, ``sklearn.metrics.coverage_error``.

    Examples
    --------
    >>> coverage_error([[1, 0, 0], [0, 1, 1]], [[1, 0.5, 0.75], [0.5, 1, 0.2]])
    2.0
    """
    return _mean(prepare(y_true, y_score, ignore_mask, allow_1d=False), "coverage")


def one_error(y_true, y_score, *, ties="pessimistic", ignore_mask=None) -> float:
    r"""One-error: the fraction of samples whose top-ranked label is not a positive one.

    .. math::

        \mathrm{one\text{-}error} = \frac{1}{N}\sum_i
        \mathbb{1}\left[\arg\max_k s_{ik} \notin Y_i\right].

    Neither scikit-learn nor torchmetrics has it, so the conventions are stated here:

    * ties at the top: ``ties="pessimistic"`` (default) counts an error when any label tied at
      the maximal score is negative, matching the maximal-rank convention of the other ranking
      metrics; ``ties="average"`` gives the expected error under random tie-breaking, i.e. the
      fraction of negatives among the tied top labels;
    * a sample with no positive label counts as an error (its top label cannot be relevant),
      as in the definition of Schapire & Singer.

    Parameters
    ----------
    y_true, y_score, ignore_mask
        As in :func:`label_ranking_average_precision`.
    ties : {"pessimistic", "average"}, default "pessimistic"

    Returns
    -------
    float

    References
    ----------
    .. [1] R. E. Schapire, Y. Singer, "BoosTexter: A boosting-based system for text
       categorization", Machine Learning 39, 2000.

    Examples
    --------
    >>> one_error([[1, 0, 0], [0, 1, 0]], [[0.9, 0.9, 0.1], [0.2, 0.8, 0.1]])
    0.5
    >>> one_error([[1, 0, 0], [0, 1, 0]], [[0.9, 0.9, 0.1], [0.2, 0.8, 0.1]], ties="average")
    0.25
    """
    check_option(ties, "ties", ("pessimistic", "average"))
    return _mean(prepare(y_true, y_score, ignore_mask, allow_1d=False), "one_error", ties)
