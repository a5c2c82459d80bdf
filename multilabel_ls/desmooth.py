"""De-smoothing: from a smoothed model's optimal outputs back to the clean labels.

A model trained with label smoothing does not estimate ``P(y_j = 1 | x)``. At the population
optimum of the loss its outputs are a known transform of the label distribution given ``x``
(derivation ``D7.1`` in ``derivations/07_desmoothing.md``):

* sigmoid strategies: ``σ(x_j) = E[t_j | x]``, an affine map of the marginals ``η_j = P(y_j = 1 | x)``
  (for ``mass_preserving`` it mixes all labels of the row), inverted exactly by
  :func:`desmooth_probabilities` (``D7.2``);
* softmax strategies: ``softmax(x)_j = E[t_j | x] / E[S | x]`` (``S`` the target sum). For
  ``uniform`` and ``prior_softmax`` this identifies the expected *share* ``ρ_j = E[y_j / n | x]``
  (:func:`desmooth_shares`), not ``η_j``; ``η_j`` follows only when the row's number of positives
  is known (``D7.3``). For ``unnormalized`` and ``asymmetric_softmax`` ``η`` follows from the
  expected number of positives (``D7.4``), for ``positive_split`` from a known number of positives
  and ``ε ≠ (N - n)/N`` (``D7.5``). Without that extra knowledge the clean probabilities are not
  identifiable, and the functions raise :class:`NotIdentifiableError` naming the strategy.

The maps are exact at the optimum; applied to a finite-sample model they are estimates and may
leave ``[0, 1]`` (``clip=True`` clamps). ``N`` is the number of labels of ``probs`` (dim 1): the
maps assume that every label of the training rows was known.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .strategies import SmoothingConfig, get_strategy, make_config

__all__ = ["NotIdentifiableError", "desmooth_probabilities", "desmooth_shares"]

#: Relative tolerance for "the softmax outputs of a row sum to 1" (float32 rounding of 1e5 labels).
_SUM_TOL = 1e-4


class NotIdentifiableError(ValueError):
    """The clean-label quantity asked for is not a function of the smoothed model's outputs."""


def _as_float64(probs) -> tuple[torch.Tensor, object]:
    if isinstance(probs, torch.Tensor):
        if not probs.dtype.is_floating_point:
            raise TypeError(f"probs must be floating, got dtype {probs.dtype}")
        return probs.detach().to(torch.float64), probs
    if isinstance(probs, np.ndarray):
        if not np.issubdtype(probs.dtype, np.floating):
            raise TypeError(f"probs must be floating, got dtype {probs.dtype}")
        return torch.from_numpy(np.asarray(probs, dtype=np.float64)), probs
    raise TypeError(f"probs must be a torch.Tensor or numpy.ndarray, got {type(probs).__name__}")


def _like(out: torch.Tensor, template) -> torch.Tensor | np.ndarray:
    if isinstance(template, np.ndarray):
        return out.numpy().astype(template.dtype, copy=False)
    return out.to(device=template.device, dtype=template.dtype)


def _check_probs(p: torch.Tensor, config: SmoothingConfig) -> None:
    if p.ndim < 2:
        raise ValueError(
            f"probs must have shape (B, N, ...) with labels on dim 1, got {tuple(p.shape)}"
        )
    if not bool(torch.isfinite(p).all()) or bool(((p < 0) | (p > 1)).any()):
        raise ValueError("probs must be finite probabilities in [0, 1]")
    if config.family == "softmax":
        total = p.sum(1)
        if not bool(torch.allclose(total, torch.ones_like(total), rtol=0, atol=_SUM_TOL)):
            raise ValueError(
                f"strategy={config.name!r} is a softmax strategy: probs must be softmax outputs "
                "(each row sums to 1 over dim 1)"
            )
    if config.prior is not None and config.prior.numel() != p.shape[1]:
        raise ValueError(
            f"prior has length {config.prior.numel()} but probs have {p.shape[1]} labels"
        )


def _row_count(num_positives, p: torch.Tensor) -> torch.Tensor:
    """``num_positives`` as a float64 tensor broadcastable to ``p`` (a size-1 label dim)."""
    v = torch.as_tensor(num_positives, dtype=torch.float64)
    if v.ndim > 0:
        rows = (p.shape[0], *p.shape[2:])
        if tuple(v.shape) != rows:
            raise ValueError(
                f"num_positives must be a number or have the row shape {rows} (probs without "
                f"its label dim), got {tuple(v.shape)}"
            )
        v = v.unsqueeze(1)
    if not bool(torch.isfinite(v).all()):
        raise ValueError("num_positives must be finite")
    return v


def _config(strategy, epsilon, epsilon_pos, epsilon_neg, prior) -> SmoothingConfig:
    return make_config(
        strategy, epsilon=epsilon, epsilon_pos=epsilon_pos, epsilon_neg=epsilon_neg, prior=prior
    )


def _prior_view(config: SmoothingConfig, p: torch.Tensor) -> torch.Tensor:
    shape = [1] * p.ndim
    shape[1] = -1
    return config.prior.to(torch.float64).view(shape)


def desmooth_probabilities(
    probs: torch.Tensor | np.ndarray,
    *,
    strategy: str,
    epsilon: float | None = None,
    epsilon_pos: float | None = None,
    epsilon_neg: float | None = None,
    prior: Sequence[float] | torch.Tensor | None = None,
    num_positives: float | torch.Tensor | None = None,
    clip: bool = False,
) -> torch.Tensor | np.ndarray:
    """Clean-label probabilities ``η_j = P(y_j = 1 | x)`` from a smoothed model's outputs.

    Inverts the map from ``η`` to the population-optimal outputs of a model trained with
    ``strategy`` (``derivations/07_desmoothing.md``):

    * ``binary``: ``(p_j - ε/2) / (1 - ε)``; ``binary_uniform``: ``(p_j - ε/N) / (1 - ε)``;
      ``mass_preserving``: ``(p_j - (ε/N) Σ_k p_k) / (1 - ε)``; ``asymmetric``:
      ``(p_j - ε₋) / (1 - ε₊ - ε₋)``; ``prior``: ``(p_j - ε π_j) / (1 - ε)``. Identifiable for
      ``ε < 1`` (``ε₊ + ε₋ < 1``) (D7.2).
    * ``uniform``: ``n (p_j - ε/N) / (1 - ε)``; ``prior_softmax``: ``n (p_j - ε π_j) / (1 - ε)``.
      Needs the row's number of positives ``n`` (D7.3).
    * ``unnormalized``: ``(p_j ((1 - ε) ν + ε) - ε/N) / (1 - ε)``; ``asymmetric_softmax``:
      ``(p_j (N ε₋ + (1 - ε₊ - ε₋) ν) - ε₋) / (1 - ε₊ - ε₋)``. Needs the expected number of
      positives ``ν = E[n | x]`` (D7.4).
    * ``positive_split``: ``(p_j - ε/(N - n)) / ((1 - ε)/n - ε/(N - n))``. Needs ``n``, and
      ``ε ≠ (N - n)/N`` (D7.5).

    Parameters
    ----------
    probs:
        The model's probabilities, labels on dim 1: ``sigmoid(logits)`` for the sigmoid
        strategies, ``softmax(logits, dim=1)`` for the softmax strategies (rows must sum to 1).
    strategy, epsilon, epsilon_pos, epsilon_neg, prior:
        The smoothing the model was trained with (as in
        :func:`~multilabel_ls.multilabel_smoothing_loss`).
    num_positives:
        Softmax strategies only. For ``unnormalized`` and ``asymmetric_softmax``: ``ν``, the
        expected number of positives of the row given ``x``. For ``uniform``,
        ``prior_softmax`` and ``positive_split``: the row's number of positives ``n``, which the
        map assumes is determined by ``x`` (e.g. a fixed number of labels per example). A number,
        or a tensor of the row shape (``probs`` without dim 1).
    clip:
        Clamp the result to ``[0, 1]`` (finite-sample outputs can map slightly outside).

    Returns
    -------
    Tensor or ndarray like ``probs`` (same type, dtype and shape), computed in float64.

    Raises
    ------
    NotIdentifiableError
        When ``η`` is not a function of the outputs: a softmax strategy without
        ``num_positives``, ``ε = 1`` (``ε₊ + ε₋ = 1``), or ``positive_split`` at
        ``ε = (N - n)/N`` where every target is ``1/N``.
    ValueError, TypeError
        Invalid smoothing arguments, probabilities outside ``[0, 1]``, softmax rows that do not
        sum to 1, or ``num_positives`` for a sigmoid strategy.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[0.95, 0.05, 0.5]], dtype=torch.float64)  # binary, eps = 0.1
    >>> desmooth_probabilities(p, strategy="binary", epsilon=0.1).round(decimals=6).tolist()
    [[1.0, 0.0, 0.5]]
    """
    p, template = _as_float64(probs)
    config = _config(strategy, epsilon, epsilon_pos, epsilon_neg, prior)
    _check_probs(p, config)
    name, eps = config.name, config.epsilon
    N = p.shape[1]
    ep, en = config.epsilon_pos, config.epsilon_neg
    spread = 1.0 - ep - en if name in ("asymmetric", "asymmetric_softmax") else 1.0 - eps
    if spread <= 0.0:
        what = "epsilon_pos + epsilon_neg = 1" if name.startswith("asym") else "epsilon = 1"
        raise NotIdentifiableError(
            f"strategy={name!r} with {what}: every target is the same constant, so the outputs "
            "carry no information about the labels"
        )
    if config.family == "sigmoid":
        if num_positives is not None:
            raise ValueError(
                f"num_positives is not used by the sigmoid strategy {name!r} (its map is per label)"
            )
        if name == "binary":
            out = (p - eps / 2) / spread
        elif name == "binary_uniform":
            out = (p - eps / N) / spread
        elif name == "mass_preserving":
            out = (p - (eps / N) * p.sum(1, keepdim=True)) / spread
        elif name == "asymmetric":
            out = (p - en) / spread
        else:  # prior
            out = (p - eps * _prior_view(config, p)) / spread
    else:
        if num_positives is None:
            need = (
                "the expected number of positives E[n | x]"
                if name in ("unnormalized", "asymmetric_softmax")
                else "the row's number of positives n"
            )
            hint = (
                " (desmooth_shares gives the identifiable E[y_j / n | x])"
                if name
                in (
                    "uniform",
                    "prior_softmax",
                )
                else ""
            )
            raise NotIdentifiableError(
                f"strategy={name!r}: the clean-label probabilities are not identifiable from "
                f"softmax outputs alone; pass num_positives= ({need}){hint}"
            )
        n = _row_count(num_positives, p)
        if name in ("uniform", "prior_softmax", "positive_split") and bool(
            ((n <= 0) | (n > N)).any()
        ):
            raise ValueError(f"num_positives must lie in (0, N] for strategy={name!r}")
        if name == "uniform":
            out = n * (p - eps / N) / spread
        elif name == "prior_softmax":
            out = n * (p - eps * _prior_view(config, p)) / spread
        elif name == "unnormalized":
            out = (p * ((1 - eps) * n + eps) - eps / N) / spread
        elif name == "asymmetric_softmax":
            out = (p * (N * en + spread * n) - en) / spread
        else:  # positive_split
            if bool((n >= N).any()):
                raise ValueError("num_positives must be < N for strategy='positive_split'")
            den = (1 - eps) / n - eps / (N - n)
            # zero up to rounding, relative to the two targets it is the difference of
            if bool((den.abs() <= 1e-12 * ((1 - eps) / n + eps / (N - n))).any()):
                raise NotIdentifiableError(
                    "strategy='positive_split' at epsilon = (N - n)/N: every target is 1/N, so "
                    "the outputs carry no information about the labels"
                )
            out = (p - eps / (N - n)) / den
    if clip:
        out = out.clamp(0.0, 1.0)
    return _like(out, template)


def desmooth_shares(
    probs: torch.Tensor | np.ndarray,
    *,
    strategy: str,
    epsilon: float | None = None,
    epsilon_pos: float | None = None,
    epsilon_neg: float | None = None,
    prior: Sequence[float] | torch.Tensor | None = None,
    clip: bool = False,
) -> torch.Tensor | np.ndarray:
    """Expected label shares ``ρ_j = E[y_j / n | x]`` from a ``uniform``/``prior_softmax`` model.

    At the optimum the softmax outputs of these strategies are ``(1 - ε) ρ_j + ε u_j / U``
    (``D7.3``), so ``ρ_j = (p_j - ε/N) / (1 - ε)`` (``uniform``) or ``(p_j - ε π_j) / (1 - ε)``
    (``prior_softmax``). ``ρ`` sums to 1 over the labels; it equals ``η_j / n`` only when the
    number of positives ``n`` is determined by ``x``.

    Parameters
    ----------
    probs:
        ``softmax(logits, dim=1)`` of the model (rows sum to 1).
    strategy, epsilon, epsilon_pos, epsilon_neg, prior:
        The smoothing the model was trained with (the same arguments as
        :func:`desmooth_probabilities`); only ``"uniform"`` and ``"prior_softmax"`` identify the
        shares.
    clip:
        Clamp the result to ``[0, 1]``.

    Raises
    ------
    NotIdentifiableError
        For any other strategy (their outputs do not determine ``ρ``) or ``ε = 1``.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[0.475, 0.475, 0.025, 0.025]], dtype=torch.float64)  # uniform, eps = 0.1
    >>> desmooth_shares(p, strategy="uniform", epsilon=0.1).round(decimals=6).tolist()
    [[0.5, 0.5, 0.0, 0.0]]
    """
    p, template = _as_float64(probs)
    if get_strategy(strategy).name not in ("uniform", "prior_softmax"):
        raise NotIdentifiableError(
            f"strategy={strategy!r}: the expected shares E[y_j / n | x] are identifiable only for "
            "'uniform' and 'prior_softmax' (see derivations/07_desmoothing.md)"
        )
    config = _config(strategy, epsilon, epsilon_pos, epsilon_neg, prior)
    _check_probs(p, config)
    eps = config.epsilon
    if eps >= 1.0:
        raise NotIdentifiableError(
            f"strategy={config.name!r} with epsilon = 1: the target does not depend on the labels"
        )
    base = 1.0 / p.shape[1] if config.name == "uniform" else _prior_view(config, p)
    out = (p - eps * base) / (1.0 - eps)
    if clip:
        out = out.clamp(0.0, 1.0)
    return _like(out, template)
