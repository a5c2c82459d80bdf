"""Seeded label-noise models for multi-label training labels.

Every model corrupts a 0/1 label matrix ``Y`` (n_rows, n_labels) entry by entry, independently,
with a flip probability that depends on the entry's clean value (and for some models on its
label or row):

==========================  ===============================  ===================================
model (spec string)         positive -> 0 with probability   negative -> 1 with probability
==========================  ===============================  ===================================
``none``                    0                                0
``missing:p``               ``p``                            0
``spurious:q``              0                                ``q``
``spurious_per_row:k``      0                                ``min(1, k / n_neg_i)``
``flip:r``                  ``r``                            ``r``
``class_conditional``       ``drop[j]``                      ``add[j]``
==========================  ===============================  ===================================

``missing`` models positives that annotators failed to tag; ``spurious`` adds false positives
at a per-entry rate (``q * n_negatives`` of them in expectation, so many on data sets with many
labels); ``spurious_per_row`` instead adds ``k`` false positives per row in expectation
(``min(k, n_neg_i)`` exactly, where ``n_neg_i`` is row i's number of negatives), which keeps
the amount of noise comparable across data sets of different label counts; ``flip`` is
symmetric noise; ``class_conditional`` takes per-label vectors ``drop`` and ``add`` (scalars
broadcast to every label).

Randomness and determinism. The generator is ``numpy.random.default_rng([NOISE_STREAM, seed])``
(a stream of its own, so the same integer seed used elsewhere, e.g. for weight initialisation,
gives unrelated numbers). One uniform ``U[i, j]`` is drawn per entry and the entry flips iff
``U[i, j] < P[i, j]``. Hence the same ``(Y, spec, seed)`` always gives the same result, and for a
fixed seed the noise is monotone in the rate: the entries flipped at a smaller rate are a
subset of those flipped at a larger one (useful when sweeping noise levels).

Only training labels should be corrupted; :func:`apply_noise_to_dataset` does exactly that and
leaves the test split untouched. A validation set carved from the noisy training split is noisy
too (as it would be in practice); carve it before adding noise to validate on clean labels.
No function modifies its input.

Spec forms accepted by :func:`parse_noise_spec` (so a CLI can pass one string):
``"none"``; ``"missing:0.2"``; ``"missing:p=0.2"``; ``"class_conditional:drop=0.2,add=0.01"``
(scalars); a JSON object string or a dict, e.g.
``{"model": "class_conditional", "drop": [0.1, 0.3], "add": 0.0}``; or a :class:`NoiseSpec`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from multilabel_ls.data import MultiLabelDataset

__all__ = [
    "NOISE_MODELS",
    "NOISE_STREAM",
    "NoiseSpec",
    "add_positives",
    "add_positives_per_row",
    "apply_noise",
    "apply_noise_to_dataset",
    "class_conditional_noise",
    "drop_positives",
    "flip_labels",
    "parse_noise_spec",
]

#: Tag mixed into every noise seed: ``default_rng([NOISE_STREAM, seed])``.
NOISE_STREAM = 0x6E6F697365  # "noise" in ASCII

#: model name -> (parameter names, kind of each: "rate" in [0, 1], "count" >= 0,
#: "rates" a scalar or per-label vector of rates).
NOISE_MODELS: dict[str, dict[str, str]] = {
    "none": {},
    "missing": {"p": "rate"},
    "spurious": {"q": "rate"},
    "spurious_per_row": {"k": "count"},
    "flip": {"r": "rate"},
    "class_conditional": {"drop": "rates", "add": "rates"},
}

ParamValue = float | tuple[float, ...]


def _fmt(v: ParamValue) -> str:
    return repr(v) if isinstance(v, float) else json.dumps(list(v))


@dataclasses.dataclass(frozen=True)
class NoiseSpec:
    """A validated noise model: its name and parameters (hashable, immutable).

    Build one with :func:`parse_noise_spec`. ``str(spec)`` is the canonical spec string
    (``"missing:0.2"``; a compact JSON object when a parameter is a vector), which parses back
    to an equal spec, so it can key results in a store. :meth:`to_dict` gives the JSON form.

    Attributes
    ----------
    model : str
        One of :data:`NOISE_MODELS`.
    params : tuple of (str, float or tuple of float)
        Parameters in the model's declared order.
    """

    model: str
    params: tuple[tuple[str, ParamValue], ...] = ()

    def param(self, name: str) -> ParamValue:
        """The value of parameter ``name`` (``KeyError`` if the model has no such parameter)."""
        return dict(self.params)[name]

    def to_dict(self) -> dict[str, Any]:
        """``{"model": ..., <param>: float or list of float, ...}`` (JSON-serialisable)."""
        out: dict[str, Any] = {"model": self.model}
        for k, v in self.params:
            out[k] = v if isinstance(v, float) else list(v)
        return out

    def __str__(self) -> str:
        if not self.params:
            return self.model
        if any(not isinstance(v, float) for _, v in self.params):
            return json.dumps(self.to_dict(), separators=(",", ":"))
        if len(self.params) == 1:
            return f"{self.model}:{_fmt(self.params[0][1])}"
        return f"{self.model}:" + ",".join(f"{k}={_fmt(v)}" for k, v in self.params)


def _model_name(raw: Any) -> str:
    if not isinstance(raw, str):
        raise TypeError(f"noise model name must be a str; got {raw!r}")
    name = raw.strip().lower().replace("-", "_")
    name = {"clean": "none", "symmetric": "flip"}.get(name, name)
    if name not in NOISE_MODELS:
        raise ValueError(f"unknown noise model {raw!r}; known models: {sorted(NOISE_MODELS)}")
    return name


def _number(v: Any, what: str) -> float:
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise ValueError(f"{what} must be a number; got {v!r}") from None
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise ValueError(f"{what} must be a finite number; got {v!r}")
    return float(v)


def _check_param(model: str, name: str, kind: str, v: Any) -> ParamValue:
    what = f"noise parameter {model}.{name}"
    if isinstance(v, np.ndarray):
        v = v.tolist()  # a 0-d array becomes a float
    if kind == "rates" and not isinstance(v, (str, numbers.Real)):
        if not isinstance(v, Sequence) or isinstance(v, str):
            raise ValueError(f"{what} must be a rate or a list of rates; got {v!r}")
        vals = tuple(_number(x, what) for x in v)
        if not vals:
            raise ValueError(f"{what} must not be an empty list")
        bad = [x for x in vals if not 0.0 <= x <= 1.0]
        if bad:
            raise ValueError(f"{what} must hold probabilities in [0, 1]; got {bad}")
        return vals
    x = _number(v, what)
    if kind in ("rate", "rates") and not 0.0 <= x <= 1.0:
        raise ValueError(f"{what} must be a probability in [0, 1]; got {x}")
    if kind == "count" and x < 0:
        raise ValueError(f"{what} must be >= 0; got {x}")
    return x


def _from_mapping(d: Mapping[str, Any]) -> NoiseSpec:
    if "model" not in d:
        raise ValueError(f"noise spec dict needs a 'model' key; got keys {sorted(d)}")
    model = _model_name(d["model"])
    given = dict(d.get("params", {})) if isinstance(d.get("params"), Mapping) else {}
    given.update({k: v for k, v in d.items() if k not in ("model", "params")})
    expected = NOISE_MODELS[model]
    unknown = sorted(set(given) - set(expected))
    if unknown:
        raise ValueError(
            f"noise model {model!r} has no parameter(s) {unknown}; expected {list(expected)}"
        )
    missing = [k for k in expected if k not in given]
    if missing:
        raise ValueError(f"noise model {model!r} needs parameter(s) {missing}")
    return NoiseSpec(
        model, tuple((k, _check_param(model, k, kind, given[k])) for k, kind in expected.items())
    )


def parse_noise_spec(spec: str | Mapping[str, Any] | NoiseSpec | None) -> NoiseSpec:
    """Parse and validate a noise specification.

    Parameters
    ----------
    spec : str, dict, NoiseSpec or None
        ``None``, ``"none"`` or ``"clean"`` for no noise; ``"<model>:<value>"`` for a
        one-parameter model (``"missing:0.2"``, ``"spurious:0.01"``,
        ``"spurious_per_row:0.5"``, ``"flip:0.05"``); ``"<model>:<name>=<value>,..."``
        (``"class_conditional:drop=0.2,add=0.01"``); a JSON object string or a mapping
        ``{"model": ..., <param>: ...}`` (parameters may also sit under ``"params"``), where
        ``class_conditional`` rates may be per-label lists. Model names are case-insensitive
        and ``-`` equals ``_``.

    Returns
    -------
    NoiseSpec
        With float parameters (tuples for per-label vectors), in the model's parameter order.

    Raises
    ------
    ValueError
        For an unknown model (the message lists the known ones), unknown/missing parameters,
        a rate outside [0, 1], a negative or non-finite value, or malformed syntax.
    TypeError
        For a spec of another type.
    """
    if spec is None:
        return NoiseSpec("none")
    if isinstance(spec, NoiseSpec):
        return _from_mapping(spec.to_dict())
    if isinstance(spec, Mapping):
        return _from_mapping(spec)
    if not isinstance(spec, str):
        raise TypeError(f"noise spec must be a str, dict or NoiseSpec; got {spec!r}")
    text = spec.strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"noise spec {spec!r} is not valid JSON: {e}") from None
        if not isinstance(obj, dict):
            raise ValueError(f"noise spec JSON must be an object; got {spec!r}")
        return _from_mapping(obj)
    name, sep, args = text.partition(":")
    model = _model_name(name)
    expected = list(NOISE_MODELS[model])
    if not sep:
        if expected:
            raise ValueError(
                f"noise spec {spec!r}: model {model!r} needs a value, e.g. "
                f"'{model}:{expected[0]}=0.1'"
                if len(expected) > 1
                else f"noise spec {spec!r}: model {model!r} needs a value, e.g. '{model}:0.1'"
            )
        return NoiseSpec(model)
    if not args.strip():
        raise ValueError(f"noise spec {spec!r}: empty parameter list after ':'")
    if "=" not in args:
        if len(expected) != 1:
            raise ValueError(
                f"noise spec {spec!r}: model {model!r} takes named parameters {expected}, "
                f"e.g. '{model}:" + ",".join(f"{k}=0.1" for k in expected) + "'"
            )
        return _from_mapping({"model": model, expected[0]: args.strip()})
    given: dict[str, str] = {}
    for part in args.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"noise spec {spec!r}: expected name=value, got {part!r}")
        if key.strip() in given:
            raise ValueError(f"noise spec {spec!r}: parameter {key.strip()!r} given twice")
        given[key.strip()] = value.strip()
    return _from_mapping({"model": model, **given})


# --------------------------------------------------------------------------- core


def _check_labels(Y: Any) -> np.ndarray:
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError(f"Y must be 2-D (n_rows, n_labels); got shape {Y.shape}")
    if not (Y.dtype == np.bool_ or np.issubdtype(Y.dtype, np.number)):
        raise TypeError(f"Y must be boolean or numeric; got dtype {Y.dtype}")
    if Y.dtype != np.bool_ and not np.isin(Y, (0, 1)).all():
        raise ValueError("Y must contain only 0 and 1")
    return Y


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int; got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0; got {seed}")
    return int(seed)


def _rates(spec: NoiseSpec, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-entry probabilities (broadcastable to Y) of 1->0 and of 0->1."""
    L = pos.shape[1]
    m = spec.model
    zero = np.zeros(1)
    if m == "none":
        return zero, zero
    if m == "missing":
        return np.array([spec.param("p")]), zero
    if m == "spurious":
        return zero, np.array([spec.param("q")])
    if m == "flip":
        r = np.array([spec.param("r")])
        return r, r
    if m == "spurious_per_row":
        n_neg = L - pos.sum(axis=1, keepdims=True)
        k = float(spec.param("k"))
        # Rows without negatives get rate 0 (max(., 1) only avoids the division by zero).
        return zero, np.where(n_neg > 0, np.minimum(1.0, k / np.maximum(n_neg, 1)), 0.0)
    # class_conditional
    out = []
    for name in ("drop", "add"):
        v = np.atleast_1d(np.asarray(spec.param(name), dtype=np.float64))
        if v.size not in (1, L):
            raise ValueError(
                f"noise parameter class_conditional.{name} has {v.size} rates but Y has {L} labels"
            )
        out.append(v)
    return out[0], out[1]


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def apply_noise(
    Y: Any, spec: str | Mapping[str, Any] | NoiseSpec | None, *, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Corrupt a label matrix with a noise model; return the noisy copy and a record.

    Parameters
    ----------
    Y : array_like of shape (n_rows, n_labels)
        Clean 0/1 labels (bool or numeric). Not modified.
    spec : str, dict, NoiseSpec or None
        Anything :func:`parse_noise_spec` accepts.
    seed : int
        Non-negative; see the module docstring for the generator and the monotone coupling.

    Returns
    -------
    Y_noisy : ndarray of shape (n_rows, n_labels)
        A new array with the dtype of ``np.asarray(Y)`` (a copy even for ``"none"``).
    record : dict
        JSON-serialisable: ``model``, ``params``, ``spec`` (canonical string), ``seed``,
        ``n_rows``, ``n_labels``, ``n_positives_before``, ``n_positives_after``,
        ``n_dropped`` (1 -> 0), ``n_added`` (0 -> 1), ``n_flipped`` (their sum),
        ``realised_drop_rate`` (``n_dropped / n_positives_before``), ``realised_add_rate``
        (``n_added / n_negatives_before``) -- ``None`` when the denominator is 0 --,
        ``per_label_dropped``, ``per_label_added`` (lists of ``n_labels`` ints),
        ``n_empty_rows_before`` and ``n_empty_rows_after`` (rows with no positive label; missing
        positives can create them, and they are kept).

    Raises
    ------
    ValueError
        If ``Y`` is not a 2-D 0/1 matrix, the spec is invalid, a per-label vector does not
        match ``n_labels``, or ``seed < 0``.
    TypeError
        If ``seed`` is not an int or ``Y`` is not numeric/boolean.
    """
    Y = _check_labels(Y)
    nspec = parse_noise_spec(spec)
    seed = _check_seed(seed)
    pos = Y.astype(bool)
    p_drop, p_add = _rates(nspec, pos)
    n, L = Y.shape
    rng = np.random.default_rng([NOISE_STREAM, seed])
    u = rng.random((n, L))
    flip = np.where(pos, u < p_drop, u < p_add)
    noisy_pos = pos ^ flip
    out = noisy_pos.astype(Y.dtype)
    dropped = flip & pos
    added = flip & ~pos
    n_pos = int(pos.sum())
    n_neg = n * L - n_pos
    n_drop, n_add = int(dropped.sum()), int(added.sum())
    record = {
        "model": nspec.model,
        "params": {k: v for k, v in nspec.to_dict().items() if k != "model"},
        "spec": str(nspec),
        "seed": seed,
        "n_rows": int(n),
        "n_labels": int(L),
        "n_positives_before": n_pos,
        "n_positives_after": int(noisy_pos.sum()),
        "n_dropped": n_drop,
        "n_added": n_add,
        "n_flipped": n_drop + n_add,
        "realised_drop_rate": _none_if_nan(n_drop / n_pos if n_pos else math.nan),
        "realised_add_rate": _none_if_nan(n_add / n_neg if n_neg else math.nan),
        "per_label_dropped": dropped.sum(axis=0).astype(int).tolist(),
        "per_label_added": added.sum(axis=0).astype(int).tolist(),
        "n_empty_rows_before": int((~pos.any(axis=1)).sum()),
        "n_empty_rows_after": int((~noisy_pos.any(axis=1)).sum()),
    }
    return out, record


def apply_noise_to_dataset(
    dataset: MultiLabelDataset,
    spec: str | Mapping[str, Any] | NoiseSpec | None,
    *,
    seed: int,
) -> tuple[MultiLabelDataset, dict[str, Any]]:
    """Corrupt the training labels of a data set; the test split is left untouched.

    Returns
    -------
    (MultiLabelDataset, dict)
        A new data set whose ``Y_train`` is ``apply_noise(dataset.Y_train, spec, seed=seed)``
        (features, test arrays and names are the same objects; ``metadata["noise"]`` holds
        the canonical spec string and ``metadata["noise_seed"]`` the seed), and the record of
        :func:`apply_noise` with ``"dataset"`` and ``"split": "train"`` added.
    """
    from multilabel_ls.data import MultiLabelDataset

    if not isinstance(dataset, MultiLabelDataset):
        raise TypeError(f"dataset must be a MultiLabelDataset; got {type(dataset).__name__}")
    noisy, record = apply_noise(dataset.Y_train, spec, seed=seed)
    record = {"dataset": dataset.name, "split": "train", **record}
    return dataset.with_train_labels(noisy, noise=record["spec"], noise_seed=record["seed"]), record


# --------------------------------------------------------------------------- front ends


def drop_positives(Y: Any, p: float, *, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Missing positives: each positive becomes 0 with probability ``p``.

    Same as ``apply_noise(Y, {"model": "missing", "p": p}, seed=seed)``; see :func:`apply_noise`
    for the return values and errors.
    """
    return apply_noise(Y, {"model": "missing", "p": p}, seed=seed)


def add_positives(Y: Any, q: float, *, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Spurious positives: each negative becomes 1 with probability ``q``.

    Same as ``apply_noise(Y, {"model": "spurious", "q": q}, seed=seed)``.
    """
    return apply_noise(Y, {"model": "spurious", "q": q}, seed=seed)


def add_positives_per_row(Y: Any, k: float, *, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Spurious positives, ``k`` per row in expectation.

    Each negative of row ``i`` becomes 1 with probability ``min(1, k / n_neg_i)``, so row ``i``
    gains ``min(k, n_neg_i)`` positives in expectation; rows without negatives are unchanged.
    Same as ``apply_noise(Y, {"model": "spurious_per_row", "k": k}, seed=seed)``.
    """
    return apply_noise(Y, {"model": "spurious_per_row", "k": k}, seed=seed)


def flip_labels(Y: Any, r: float, *, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Symmetric noise: each entry is flipped with probability ``r``.

    Same as ``apply_noise(Y, {"model": "flip", "r": r}, seed=seed)``, and with the same seed
    identical to ``class_conditional_noise(Y, r, r, seed=seed)``.
    """
    return apply_noise(Y, {"model": "flip", "r": r}, seed=seed)


def class_conditional_noise(
    Y: Any, drop: float | Sequence[float], add: float | Sequence[float], *, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Class-conditional noise: a positive of label ``j`` becomes 0 with probability ``drop[j]``,
    a negative of label ``j`` becomes 1 with probability ``add[j]``.

    ``drop`` and ``add`` are scalars (same rate for every label) or sequences of length
    ``n_labels``. Same as ``apply_noise(Y, {"model": "class_conditional", "drop": drop,
    "add": add}, seed=seed)``.
    """
    return apply_noise(Y, {"model": "class_conditional", "drop": drop, "add": add}, seed=seed)
