"""Post-hoc calibration of stored logits: de-smoothing, temperature scaling, noise correction.

:func:`posthoc_scores` re-reads a run's test scores under one of :data:`METHODS`; the only
fitted quantity, the temperature, is fitted on the run's **validation** logits and labels
(:meth:`~multilabel_ls.experiments.ResultStore.validation`), never on the test split.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize

from multilabel_ls import metrics as M
from multilabel_ls.desmooth import desmooth_probabilities
from multilabel_ls.experiments.scores import presence_probabilities
from multilabel_ls.experiments.store import ResultStore
from multilabel_ls.noise import parse_noise_spec

from .tables import CELL, RunTable, load_runs, open_store

#: Post-hoc read-outs of :func:`posthoc_scores`.
METHODS = ("raw", "desmooth", "temperature", "backward")
#: Temperature search interval: a fit at either end means the validation data did not pin T down.
TEMPERATURE_BOUNDS = (0.05, 20.0)


@dataclasses.dataclass(frozen=True)
class StoredRun:
    """What the post-hoc read-outs need of one stored run (arrays as stored: float32 / uint8).

    ``val_logits`` and ``val_labels`` are None for runs stored without them (schema 1).
    """

    key: str
    strategy: str
    family: str
    epsilon: float
    epsilon_pos: float | None
    epsilon_neg: float | None
    noise: str
    seed: int
    cardinality: float
    prior: list[float] | None
    test_logits: np.ndarray
    y_test: np.ndarray
    val_logits: np.ndarray | None
    val_labels: np.ndarray | None


def iter_stored_runs(
    store: str | Path | ResultStore, keys: Sequence[str] | None = None
) -> Iterator[StoredRun]:
    """The runs ``keys`` (all by default) with their logits, labels and smoothing arguments.

    Raises
    ------
    ValueError
        For a run stored without test logits, or a data set without stored test labels.
    """
    with open_store(store) as st:
        records = {r["key"]: r for r in st.runs(with_record=True)}
        for key in records if keys is None else keys:
            r = records[key]
            logits, y = st.logits(key), st.test_labels(r["dataset"])
            if logits is None or y is None:
                raise ValueError(f"run {key} has no stored test logits or test labels")
            val = st.validation(key) or (None, None)
            yield StoredRun(
                key, r["strategy"], r["family"], r["epsilon"], r["epsilon_pos"], r["epsilon_neg"],
                r["noise"], r["seed"], float(r["record"]["data"]["train_cardinality"]),
                r["record"].get("prior"), logits, y, *val,
            )  # fmt: skip


def _bce(z: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy of logits ``z`` (stable: softplus(z) - y z)."""
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _proxy_nll(p: np.ndarray, y: np.ndarray) -> float:
    """Mean binary NLL of probabilities, clipped at float64 epsilon as :func:`metrics.log_loss`."""
    tiny = np.finfo(np.float64).eps
    q = np.clip(p, tiny, 1 - tiny)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def fit_temperature(
    logits,
    labels,
    family: str = "sigmoid",
    *,
    cardinality: float | None = None,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
) -> float:
    """One temperature ``T`` minimising the validation NLL of the presence probabilities.

    Sigmoid: ``σ(x / T)`` per label (Guo et al. 2017, with one ``T`` shared by all labels).
    Softmax: the cardinality-scaled proxy ``clip(c̄ · softmax(x / T), 0, 1)`` of
    :func:`~multilabel_ls.experiments.presence_probabilities`. The mean binary NLL over all
    (row, label) entries is minimised over ``log T`` in ``bounds`` (bounded Brent search).
    Fit it on **validation** logits and labels only.

    Parameters
    ----------
    logits : array of shape (n, N)
    labels : array of shape (n, N), 0/1
    family : {"sigmoid", "softmax"}
    cardinality : float, optional
        ``c̄`` (required for softmax).
    bounds : (float, float)
        Search interval of ``T``.

    Returns
    -------
    float
        The fitted temperature (> 1 softens, < 1 sharpens).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(0, 2, size=(4000, 3))
    >>> y = (rng.random(z.shape) < 1 / (1 + np.exp(-z))).astype(float)
    >>> round(fit_temperature(3 * z, y), 1)  # logits three times too large
    3.0
    """
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2 or x.size == 0:
        raise ValueError(f"logits and labels must be non-empty 2-D of one shape, got "
                         f"{x.shape} and {y.shape}")  # fmt: skip
    lo, hi = bounds
    if not 0 < lo < hi:
        raise ValueError(f"bounds must satisfy 0 < low < high, got {bounds!r}")
    if family == "sigmoid":
        loss = lambda t: _bce(x / math.exp(t), y)  # noqa: E731
    else:
        loss = lambda t: _proxy_nll(  # noqa: E731
            presence_probabilities(x / math.exp(t), family, cardinality=cardinality), y
        )
    res = optimize.minimize_scalar(
        loss, bounds=(math.log(lo), math.log(hi)), method="bounded", options={"xatol": 1e-4}
    )
    return float(math.exp(res.x))


def denoise_probabilities(probs, noise: str) -> np.ndarray:
    """Clean-label probabilities from noisy-label probabilities, for known noise rates.

    With drop rate ``d`` (a positive read as 0) and add rate ``a`` (a negative read as 1) the
    noisy label has ``q = (1 - d) η + a (1 - η)``, so ``η = (q - a) / (1 - d - a)`` (clipped to
    [0, 1]): the backward correction of Patrini et al. (2017) applied to the outputs. The rates
    are those of the noise spec, i.e. known exactly (an oracle a practitioner rarely has).

    Parameters
    ----------
    probs : array of shape (n, N)
        Probabilities of the noisy labels (e.g. a de-smoothed model trained on them).
    noise : str
        The spec the training labels were corrupted with (:func:`~multilabel_ls.noise.parse_noise_spec`).

    Raises
    ------
    ValueError
        For ``spurious_per_row`` (its rate depends on the row's unknown clean labels) or rates
        with ``d + a >= 1``.

    Examples
    --------
    >>> denoise_probabilities(np.array([[0.4, 0.0]]), "missing:0.2").tolist()
    [[0.5, 0.0]]
    """
    spec = parse_noise_spec(noise)
    p = np.asarray(probs, dtype=np.float64)
    zero = np.zeros(1)
    d, a = {
        "none": lambda: (zero, zero),
        "missing": lambda: (np.array([spec.param("p")]), zero),
        "spurious": lambda: (zero, np.array([spec.param("q")])),
        "flip": lambda: (np.array([spec.param("r")]),) * 2,
        "class_conditional": lambda: tuple(
            np.atleast_1d(np.asarray(spec.param(k), dtype=np.float64)) for k in ("drop", "add")
        ),
    }.get(spec.model, lambda: (None, None))()
    if d is None:
        raise ValueError(f"noise {str(spec)!r}: the per-entry rates are not known, cannot invert")
    if np.any(d + a >= 1):
        raise ValueError(f"noise {str(spec)!r}: drop + add rate >= 1 is not invertible")
    return np.clip((p - a) / (1 - d - a), 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Posthoc:
    """Test scores of one run under one read-out: pass to the metrics with ``input_format``."""

    score: np.ndarray
    input_format: str
    temperature: float


def posthoc_scores(run: StoredRun, method: str) -> Posthoc:
    """A run's test presence scores under ``method`` (one of :data:`METHODS`).

    * ``"raw"``: as evaluated in the store — sigmoid logits, or the softmax proxy
      ``clip(c̄ · softmax(x), 0, 1)``.
    * ``"desmooth"``: :func:`~multilabel_ls.desmooth_probabilities` of ``σ(x)`` or
      ``softmax(x)`` (D7.2-D7.5), clipped to [0, 1]. The softmax strategies need the row's
      number of positives, which is unknown at test time; ``n = c̄`` (the training
      cardinality, the proxy's own assumption) stands in — exact only if every row had ``c̄``
      labels (D7.3), so this is an approximation, not the identified map.
    * ``"temperature"``: ``x / T`` with ``T`` from :func:`fit_temperature` on the run's
      validation logits and labels (never the test split).
    * ``"backward"``: ``"desmooth"``, then :func:`denoise_probabilities` with the run's noise.

    Raises
    ------
    ValueError
        Unknown method; ``"temperature"`` for a run stored without validation logits; a
        ``prior`` strategy stored without its prior.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x = np.asarray(run.test_logits, dtype=np.float64)
    card = run.cardinality
    if method == "raw":
        if run.family == "sigmoid":
            return Posthoc(x, "logits", 1.0)
        return Posthoc(presence_probabilities(x, "softmax", cardinality=card), "probs", 1.0)
    if method == "temperature":
        if run.val_logits is None or run.val_labels is None:
            raise ValueError(
                f"run {run.key} was stored without validation logits (an older store); "
                "temperature scaling needs them: rerun the grid into a new store"
            )
        t = fit_temperature(run.val_logits, run.val_labels, run.family, cardinality=card)
        if run.family == "sigmoid":
            return Posthoc(x / t, "logits", t)
        return Posthoc(presence_probabilities(x / t, "softmax", cardinality=card), "probs", t)
    p = _desmoothed(run, x)
    if method == "backward":
        p = denoise_probabilities(p, run.noise)
    return Posthoc(p, "probs", 1.0)


def _desmoothed(run: StoredRun, x: np.ndarray) -> np.ndarray:
    import torch

    eps = {"epsilon_pos": run.epsilon_pos, "epsilon_neg": run.epsilon_neg}
    if run.epsilon_pos is None:
        eps = {"epsilon": run.epsilon}
    if "prior" in run.strategy:
        if run.prior is None:
            raise ValueError(f"run {run.key} ({run.strategy}) was stored without its prior")
        eps["prior"] = run.prior
    t = torch.from_numpy(x)
    if run.family == "sigmoid":
        p = torch.sigmoid(t).numpy()
        return desmooth_probabilities(p, strategy=run.strategy, clip=True, **eps)
    p = torch.softmax(t, dim=1).numpy()
    return desmooth_probabilities(
        p, strategy=run.strategy, num_positives=run.cardinality, clip=True, **eps
    )


def calibration_metrics(y_true, score, *, input_format: str, n_bins: int = 15) -> dict[str, float]:
    """Classwise and pooled ECE, Brier score and NLL, as the experiments evaluate them.

    The same calls as :func:`multilabel_ls.experiments.evaluate` (``n_bins`` equal-width bins,
    l1), so ``"raw"`` scores reproduce the stored numbers.
    """
    ce = lambda avg: M.calibration_error(  # noqa: E731
        y_true, score, input_format=input_format, n_bins=n_bins, average=avg
    )
    return {
        "ece_classwise": float(ce("classwise")),
        "ece_pooled": float(ce("pooled")),
        "brier": float(M.brier_score(y_true, score, input_format=input_format)),
        "nll": float(M.log_loss(y_true, score, input_format=input_format)),
    }


def posthoc_calibration(
    store: str | Path | ResultStore,
    runs: RunTable | None = None,
    *,
    methods: Sequence[str] = ("raw", "desmooth", "temperature"),
    n_bins: int = 15,
) -> RunTable:
    """Calibration metrics of every run (of ``runs``, default all) under every method.

    Returns
    -------
    RunTable
        One row per run and method: ``key``, the :data:`CELL` fields, ``seed``, ``method``, ``temperature`` (1 unless fitted) and the keys of
        :func:`calibration_metrics`. Nothing is fitted on the test split.
    """
    meta = load_runs(store) if runs is None else runs
    keys = meta["key"].tolist()
    index = {k: i for i, k in enumerate(keys)}
    fields = ("key", *CELL)
    cols: dict[str, list[Any]] = {f: [] for f in (*fields, "seed", "method", "temperature")}
    for run in iter_stored_runs(store, keys):
        i = index[run.key]
        for method in methods:
            ph = posthoc_scores(run, method)
            m = calibration_metrics(run.y_test, ph.score, input_format=ph.input_format,
                                    n_bins=n_bins)  # fmt: skip
            for f in fields:
                cols[f].append(meta[f][i])
            cols["seed"].append(run.seed)
            cols["method"].append(method)
            cols["temperature"].append(ph.temperature)
            for k, v in m.items():
                cols.setdefault(k, []).append(v)
    return RunTable(cols)


def pooled_reliability(
    store: str | Path | ResultStore,
    runs: RunTable,
    *,
    method: str = "raw",
    n_bins: int = 15,
) -> M.ReliabilityDiagram:
    """One reliability diagram of every test entry of ``runs`` (e.g. all seeds of a cell).

    Entries of all runs and labels are pooled; each run's scores come from
    :func:`posthoc_scores` with ``method``. Runs read out as logits (sigmoid ``raw`` and
    ``temperature``) are converted to probabilities first so that runs of either family pool.
    """
    ys, ps = [], []
    for run in iter_stored_runs(store, runs["key"].tolist()):
        ph = posthoc_scores(run, method)
        p = ph.score if ph.input_format == "probs" else 1.0 / (1.0 + np.exp(-ph.score))
        ys.append(run.y_test)
        ps.append(p)
    if not ys:
        raise ValueError("no runs to pool")
    return M.reliability_diagram(np.concatenate(ys), np.concatenate(ps), input_format="probs",
                                 n_bins=n_bins)  # fmt: skip
