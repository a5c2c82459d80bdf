"""The smoothing strategies: one registry, one target formula.

Every strategy writes the smoothed target of label ``j`` in a row as

.. math::

    t_j = a\\,u_j + b\\,y_j + c\\,(1 - y_j),

where ``y`` is the (hard or soft) multi-hot target, ``u`` is a per-label base vector (all ones,
or the label prior for ``prior`` / ``prior_softmax``), and ``a, b, c`` are per-row coefficients
that depend only on ``epsilon``, the number of known labels ``N`` and the number of known
positives ``n = sum_j y_j`` of the row. Writing every formulation in this one form lets the
closed-form loss, the sparse path and the kernels share a single implementation; all three
coefficients are non-negative, so no formula cancels catastrophically (derivation note
``derivations/01_targets.md``).

Coefficients (``U = sum_j u_j`` over the known labels; ``N``, ``n`` over the known labels):

==================== =========== ============================ ======================== =========
strategy             family      a                            b                        c
==================== =========== ============================ ======================== =========
binary               sigmoid     eps/2                        1 - eps                  0
binary_uniform       sigmoid     eps/N                        1 - eps                  0
mass_preserving      sigmoid     eps*n/N                      1 - eps                  0
asymmetric           sigmoid     0                            1 - eps_pos              eps_neg
prior                sigmoid     eps          (u = prior)     1 - eps                  0
uniform              softmax     eps/N                        (1 - eps)/n              0
positive_split       softmax     0                            (1 - eps)/n              eps/(N-n)
unnormalized         softmax     eps/N                        1 - eps                  0
asymmetric_softmax   softmax     0                            1 - eps_pos              eps_neg
prior_softmax        softmax     eps/U        (u = prior)     (1 - eps)/n              0
==================== =========== ============================ ======================== =========
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

Family = Literal["sigmoid", "softmax"]

#: Row policies: what to do with a row whose target the strategy does not define.
ROW_POLICIES = ("keep", "skip", "error", "renormalize")


@dataclass(frozen=True)
class Strategy:
    """Static description of one smoothing strategy (formulas as text, for docs and tables).

    Attributes
    ----------
    name, family:
        Public name and loss family (``"sigmoid"``: per-label binary cross-entropy;
        ``"softmax"``: cross-entropy of the row's softmax against the target distribution).
    positive, negative, target_sum:
        The target of a positive and of a negative label, and the sum of the row's targets,
        with ``N`` labels, ``n`` positives and smoothing ``ε``.
    source:
        Where the formulation comes from.
    defined_empty, defined_full:
        Whether the target is defined for a row with ``n = 0`` and with ``n = N``.
    parameters:
        The smoothing parameters the strategy takes (``epsilon``; ``epsilon_pos`` and
        ``epsilon_neg``; ``prior``).
    """

    name: str
    family: Family
    positive: str
    negative: str
    target_sum: str
    source: str
    defined_empty: bool = True
    defined_full: bool = True
    parameters: tuple[str, ...] = ("epsilon",)
    uses_prior: bool = False


_REGISTRY: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            "binary", "sigmoid", "1 - ε/2", "ε/2", "n(1-ε) + Nε/2",
            "Keras BinaryCrossentropy(label_smoothing=ε): Szegedy smoothing with K = 2 per label",
        ),
        Strategy(
            "binary_uniform", "sigmoid", "1 - ε + ε/N", "ε/N", "n(1-ε) + ε",
            "timm BinaryCrossEntropy / Composer smooth_labels values used with BCE",
        ),
        Strategy(
            "mass_preserving", "sigmoid", "1 - ε + εn/N", "εn/N", "n",
            "transformers PR #48713 (mass-preserving multi-label smoothing)",
        ),
        Strategy(
            "asymmetric", "sigmoid", "1 - ε₊", "ε₋", "n(1-ε₊) + (N-n)ε₋",
            "separate strengths for positives and negatives (per-label BCE)",
            parameters=("epsilon_pos", "epsilon_neg"),
        ),
        Strategy(
            "prior", "sigmoid", "1 - ε + επ_j", "επ_j", "n(1-ε) + εΣπ",
            "smoothing toward each label's base rate π_j",
            parameters=("epsilon", "prior"), uses_prior=True,
        ),
        Strategy(
            "uniform", "softmax", "(1-ε)/n + ε/N", "ε/N", "1",
            "normalise, then mix with uniform (fastai forum 'simplified' loss; ClassyVision)",
            defined_empty=False,
        ),
        Strategy(
            "positive_split", "softmax", "(1-ε)/n", "ε/(N-n)", "1",
            "fastai forum's first proposal: mass ε only on the negatives",
            defined_empty=False, defined_full=False,
        ),
        Strategy(
            "unnormalized", "softmax", "1 - ε + ε/N", "ε/N", "n(1-ε) + ε",
            "torch.nn.CrossEntropyLoss(label_smoothing=ε) with multi-hot probability targets",
        ),
        Strategy(
            "asymmetric_softmax", "softmax", "1 - ε₊", "ε₋", "n(1-ε₊) + (N-n)ε₋",
            "explicit positive/negative target values in softmax CE "
            "(LabelSmoothSoftmaxCE(lb_pos=1-ε₊, lb_neg=ε₋))",
            parameters=("epsilon_pos", "epsilon_neg"),
        ),
        Strategy(
            "prior_softmax", "softmax", "(1-ε)/n + επ_j/Σπ", "επ_j/Σπ", "1",
            "normalise, then mix with the label-frequency distribution π (unigram smoothing)",
            defined_empty=False, parameters=("epsilon", "prior"), uses_prior=True,
        ),
    )
}  # fmt: skip

#: The public strategy names, in table order.
STRATEGIES: tuple[str, ...] = tuple(_REGISTRY)
SIGMOID_STRATEGIES: tuple[str, ...] = tuple(
    n for n, s in _REGISTRY.items() if s.family == "sigmoid"
)
SOFTMAX_STRATEGIES: tuple[str, ...] = tuple(
    n for n, s in _REGISTRY.items() if s.family == "softmax"
)


def get_strategy(name: str) -> Strategy:
    """Return the :class:`Strategy` called ``name``; unknown names raise ``ValueError``."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown strategy={name!r}; valid strategies: {', '.join(STRATEGIES)}")
    return _REGISTRY[name]


def _brief(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a huge list or int stays readable)."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _check_unit(name: str, value: object) -> float:
    """``value`` as a float in ``[0, 1]``: a Python or NumPy real scalar, not bool, not NaN."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        hint = ""
        if isinstance(value, (torch.Tensor, np.ndarray)):
            hint = f" (convert it with float(): {name} is a constant, not a tensor)"
        raise TypeError(
            f"{name} must be a real number in [0, 1] (int, float or a NumPy integer/floating "
            f"scalar), got {_brief(value)} of type {type(value).__name__}{hint}"
        )
    try:
        f = float(value)
    except OverflowError:  # an int too large for a float: out of range anyway
        f = math.inf
    if not (0.0 <= f <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} must lie in [0, 1], got {_brief(value)}")
    return f


@dataclass(frozen=True)
class SmoothingConfig:
    """A validated smoothing configuration (what the loss and the target transform consume).

    Build it with :func:`make_config`; fields are documented there.
    """

    strategy: Strategy
    epsilon: float = 0.0
    epsilon_pos: float = 0.0
    epsilon_neg: float = 0.0
    prior: torch.Tensor | None = field(default=None, compare=False)
    empty_rows: str = "keep"
    full_rows: str = "keep"
    prior_has_zero: bool = False

    @property
    def family(self) -> Family:
        return self.strategy.family

    @property
    def name(self) -> str:
        return self.strategy.name


def _check_policy(arg: str, value: str | None, strategy: Strategy, defined: bool) -> str:
    if value is None:
        return "keep" if defined else "error"
    if value not in ROW_POLICIES:
        raise ValueError(f"{arg} must be one of {ROW_POLICIES} or None, got {value!r}")
    if value == "keep" and not defined:
        raise ValueError(
            f"{arg}='keep' is not possible for strategy={strategy.name!r}: its target is "
            f"undefined there; choose 'skip', 'renormalize' or 'error'"
        )
    if value == "renormalize" and strategy.family != "softmax":
        raise ValueError(
            f"{arg}='renormalize' applies to softmax strategies only, not to "
            f"strategy={strategy.name!r}; choose 'keep', 'skip' or 'error'"
        )
    return value


def check_prior(prior: object, strategy: Strategy, num_labels: int | None = None) -> torch.Tensor:
    """Validate a label prior ``π`` (a length-N vector) for a prior strategy.

    ``prior`` may be a 1-D torch tensor (floating or integer dtype), a 1-D NumPy array (floating
    or integer dtype) or a flat sequence of real numbers (Python or NumPy scalars). Booleans,
    strings, complex values and nested or ragged sequences are rejected with a ``TypeError``
    naming ``prior``. Every entry must be finite and lie in ``[0, 1]``; for ``prior_softmax`` the
    entries must sum to 1 (within 1e-6, summed in float64). A floating tensor is returned as is
    (detached; no copy, so a per-call functional loss does not duplicate a large prior); anything
    else becomes a float64 CPU tensor.
    """
    if prior is None:
        raise ValueError(
            f"strategy={strategy.name!r} needs prior= (a length-N vector of base rates)"
        )
    what = "prior must be a 1-D tensor, array or sequence of real numbers (base rates in [0, 1])"
    if isinstance(prior, (str, bytes)):
        raise TypeError(f"{what}, got the string {_brief(prior)}")
    dtype = getattr(prior, "dtype", None)
    if dtype in (torch.bool, np.bool_) or (
        isinstance(prior, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in prior)
    ):
        raise TypeError(f"{what}, got booleans: {_brief(prior)}")
    if (isinstance(dtype, torch.dtype) and dtype.is_complex) or (
        isinstance(dtype, np.dtype) and dtype.kind not in "iuf"
    ):
        raise TypeError(f"{what}, got dtype {dtype}")
    if isinstance(prior, torch.Tensor) and prior.dtype.is_floating_point:
        p = prior.detach()
    else:
        try:
            p = torch.as_tensor(prior, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError(f"{what}, got {_brief(prior)} ({e})") from e
    if p.ndim != 1 or p.numel() == 0:
        raise ValueError(f"prior must be a non-empty 1-D vector, got shape {tuple(p.shape)}")
    if num_labels is not None and p.numel() != num_labels:
        raise ValueError(f"prior has length {p.numel()} but there are {num_labels} labels")
    if not torch.isfinite(p).all():
        raise ValueError(
            f"prior contains non-finite values (first at index {int((~torch.isfinite(p)).nonzero()[0])})"
        )
    bad = (p < 0) | (p > 1)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise ValueError(f"prior must lie in [0, 1]; prior[{i}] = {p[i].item()!r}")
    if strategy.family == "softmax":
        total = float(p.sum(dtype=torch.float64))
        if abs(total - 1.0) > 1e-6:  # a distribution; 1e-6 allows float32 rounding of a float64 one
            raise ValueError(
                f"prior for strategy={strategy.name!r} must sum to 1, sums to {total!r}"
            )
    return p


def make_config(
    strategy: str,
    *,
    epsilon: float | None = None,
    epsilon_pos: float | None = None,
    epsilon_neg: float | None = None,
    prior: Sequence[float] | torch.Tensor | None = None,
    empty_rows: str | None = None,
    full_rows: str | None = None,
) -> SmoothingConfig:
    """Validate smoothing arguments and return a :class:`SmoothingConfig`.

    Parameters
    ----------
    strategy:
        One of :data:`STRATEGIES`.
    epsilon:
        Smoothing strength in ``[0, 1]`` for every strategy except the asymmetric ones
        (default 0: no smoothing). Passing it to an asymmetric strategy is an error.
        A real number: a Python ``int`` / ``float`` (or other :class:`numbers.Real`) or a NumPy
        integer / floating scalar such as ``np.float32(0.1)``. ``bool``, strings, tensors and
        arrays raise ``TypeError``; NaN and values outside ``[0, 1]`` raise ``ValueError``.
    epsilon_pos, epsilon_neg:
        For ``asymmetric`` / ``asymmetric_softmax`` only: the target of a positive is
        ``1 - epsilon_pos`` and of a negative ``epsilon_neg``; each a real number in ``[0, 1]``
        (the same types as ``epsilon``) with ``epsilon_pos + epsilon_neg <= 1`` (otherwise
        negatives would get a higher target than positives). Passing them to another strategy
        is an error.
    prior:
        For ``prior`` / ``prior_softmax`` only: the per-label base rates ``π`` (length N), as
        accepted by :func:`check_prior` (a 1-D tensor, NumPy array or sequence of reals).
    empty_rows, full_rows:
        Policy for a row with no known positive (``n = 0``) and for a row whose known labels are
        all positive (``n = N``): ``"keep"`` (apply the formula; only where it is defined),
        ``"skip"`` (the row contributes no loss and no gradient and is left out of the mean),
        ``"renormalize"`` (softmax only: drop the undefined part of the target and rescale the
        rest to sum to 1 — the smoothing distribution for ``n = 0``, ``y/n`` for ``n = N``),
        ``"error"`` (raise). ``None`` (default) means ``"keep"`` where the strategy defines the
        row and ``"error"`` where it does not (``uniform``, ``positive_split`` and
        ``prior_softmax`` at ``n = 0``; ``positive_split`` at ``n = N``).
    """
    s = get_strategy(strategy)
    asym = "epsilon_pos" in s.parameters
    if asym:
        if epsilon is not None:
            raise ValueError(
                f"strategy={s.name!r} takes epsilon_pos and epsilon_neg, not epsilon={epsilon!r}"
            )
        if epsilon_pos is None or epsilon_neg is None:
            raise ValueError(
                f"strategy={s.name!r} needs both epsilon_pos and epsilon_neg "
                f"(got epsilon_pos={epsilon_pos!r}, epsilon_neg={epsilon_neg!r})"
            )
        ep = _check_unit("epsilon_pos", epsilon_pos)
        en = _check_unit("epsilon_neg", epsilon_neg)
        if ep + en > 1.0:
            raise ValueError(
                f"epsilon_pos + epsilon_neg must be <= 1 (positive target 1-epsilon_pos must not "
                f"fall below negative target epsilon_neg), got {ep!r} + {en!r}"
            )
        eps = 0.0
    else:
        for arg, v in (("epsilon_pos", epsilon_pos), ("epsilon_neg", epsilon_neg)):
            if v is not None:
                raise ValueError(
                    f"{arg}={v!r} is only used by the asymmetric strategies, not strategy={s.name!r}"
                )
        eps = _check_unit("epsilon", 0.0 if epsilon is None else epsilon)
        ep = en = 0.0
    if s.uses_prior:
        p = check_prior(prior, s)
    elif prior is not None:
        raise ValueError(
            f"prior= is only used by 'prior' and 'prior_softmax', not strategy={s.name!r}"
        )
    else:
        p = None
    return SmoothingConfig(
        strategy=s,
        epsilon=eps,
        epsilon_pos=ep,
        epsilon_neg=en,
        prior=p,
        empty_rows=_check_policy("empty_rows", empty_rows, s, s.defined_empty),
        full_rows=_check_policy("full_rows", full_rows, s, s.defined_full),
        prior_has_zero=p is not None and bool((p == 0).any()),
    )


@dataclass
class RowCoefficients:
    """Per-row target coefficients ``t_j = a u_j + b y_j + c (1 - y_j)``.

    All tensors share one broadcastable row shape (the target sum over the known labels is
    ``S = a U + b n + c (N - n)``, derivation D1.2); ``valid`` is False for rows that
    contribute nothing (no known label, or dropped by the ``"skip"`` policy).
    """

    a: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor
    valid: torch.Tensor


def row_coefficients(
    config: SmoothingConfig, n: torch.Tensor, N: torch.Tensor, U: torch.Tensor
) -> RowCoefficients:
    """Coefficients for rows with ``n`` known positives among ``N`` known labels.

    ``U`` is the sum of the base vector over the known labels (``U = N`` without a prior).
    ``n``, ``N`` and ``U`` are floating tensors of one row shape. Rows with ``N = 0`` are invalid.
    Raises ``ValueError`` for a degenerate row under the ``"error"`` policy.
    """
    s = config.strategy
    eps = config.epsilon
    name = s.name
    zero = torch.zeros_like(n)
    Ns = N.clamp(min=1.0)  # safe divisors: rows with N = 0 are invalid and masked below
    ns = n.clamp(min=torch.finfo(n.dtype).tiny)
    if name == "binary":
        a, b, c = zero + eps / 2, zero + (1 - eps), zero
    elif name in ("binary_uniform", "unnormalized"):
        a, b, c = eps / Ns, zero + (1 - eps), zero
    elif name == "mass_preserving":
        a, b, c = eps * n / Ns, zero + (1 - eps), zero
    elif name in ("asymmetric", "asymmetric_softmax"):
        a, b, c = zero, zero + (1 - config.epsilon_pos), zero + config.epsilon_neg
    elif name == "prior":
        a, b, c = zero + eps, zero + (1 - eps), zero
    elif name == "uniform":
        a, b, c = eps / Ns, (1 - eps) / ns, zero
    elif name == "positive_split":
        a, b, c = zero, (1 - eps) / ns, eps / (N - n).clamp(min=torch.finfo(n.dtype).tiny)
    elif name == "prior_softmax":
        # U > 0 unless every known label has prior 0: only possible when some prior is 0
        if config.prior_has_zero and bool(((U <= 0) & (N > 0)).any()):
            raise ValueError(
                "prior sums to zero over the known labels of a row: prior_softmax cannot "
                "distribute its smoothing mass there"
            )
        a, b, c = eps / U.clamp(min=torch.finfo(n.dtype).tiny), (1 - eps) / ns, zero
    else:  # pragma: no cover - the registry and this table are kept in sync by tests
        raise AssertionError(name)

    valid = N > 0
    empty = valid & (n <= 0)
    full = valid & (n >= N) & (N > 0)
    for mask, policy, what in (
        (empty, config.empty_rows, "no positive label (n = 0)"),
        (full, config.full_rows, "every known label positive (n = N)"),
    ):
        if policy == "keep":
            continue
        if policy == "error":  # the only policy that needs to look at the data (a host sync)
            if not bool(mask.any()):
                continue
            arg = "empty_rows" if mask is empty else "full_rows"
            raise ValueError(
                f"{int(mask.sum())} row(s) with {what}: strategy={name!r} with {arg}='error'. "
                f"Choose {arg}='skip' to drop them"
                + (" or 'renormalize'" if s.family == "softmax" else "")
                + (" or 'keep'" if (s.defined_empty if mask is empty else s.defined_full) else "")
            )
        if policy == "skip":
            valid = valid & ~mask
        else:  # renormalize: drop the undefined part, rescale the rest to sum to 1
            if mask is empty:  # only the smoothing part is left: the base distribution u / U
                a = torch.where(mask, 1.0 / U.clamp(min=torch.finfo(n.dtype).tiny), a)
                b = torch.where(mask, zero, b)
                c = torch.where(mask, zero, c)
            else:  # only the positive part is left: y / n
                a = torch.where(mask, zero, a)
                b = torch.where(mask, 1.0 / ns, b)
                c = torch.where(mask, zero, c)
    return RowCoefficients(a=a, b=b, c=c, valid=valid)


def describe_strategies() -> list[dict[str, str]]:
    """The formulation table as a list of dicts (strategy, family, targets, sum, source)."""
    return [
        {
            "strategy": s.name,
            "family": s.family,
            "positive": s.positive,
            "negative": s.negative,
            "sum": s.target_sum,
            "source": s.source,
        }
        for s in _REGISTRY.values()
    ]
