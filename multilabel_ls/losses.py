"""Multi-label smoothing losses: one function, one thin ``nn.Module``.

:func:`multilabel_smoothing_loss` validates its arguments once and computes the loss in closed
form (:mod:`._closed_form`): the smoothed target is never materialised for the whole batch and
the gradient is written directly, so training memory is the logits plus their gradient.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence

import torch
from torch import nn

from ._blocks import check_ignore_index
from ._closed_form import ClosedFormLoss
from .sparse import PositiveIndices
from .strategies import SmoothingConfig, make_config
from .targets import make_source

REDUCTIONS = ("mean", "sum", "none")
#: Compute backends: "auto" (Triton kernels for CUDA tensors, closed-form PyTorch elsewhere),
#: "torch" (always the closed-form path), "triton" (always the kernels; CUDA, or Triton's
#: interpreter under TRITON_INTERPRET=1).
BACKENDS = ("auto", "torch", "triton")


def _use_triton(backend: object, logits: torch.Tensor) -> bool:
    """Resolve ``backend`` for these logits; errors name the argument and its value."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return False
    from . import kernels  # does not import triton

    if backend == "auto":
        return logits.is_cuda and kernels.triton_available()
    kernels.check_available(logits.device)
    return True


def _apply(use_triton, logits, config, source, weight, pos_weight, reduction):
    """Run the loss on the chosen backend."""
    if use_triton:
        from .kernels import fused_loss

        return fused_loss(logits, config, source, weight, pos_weight, reduction)
    return ClosedFormLoss.apply(logits, config, source, weight, pos_weight, reduction)


_apply_eager = None


def _runner():
    """:func:`_apply`, opaque to ``torch.compile`` once dynamo is loaded.

    ``torch.compile`` sees a graph break and calls the loss eagerly (the row policies need
    data-dependent host decisions either way). Wrapped lazily: ``torch.compiler.disable``
    imports dynamo (and with it Triton), which ``import multilabel_ls`` should not; without
    dynamo loaded nothing can be compiling.
    """
    global _apply_eager
    if _apply_eager is None:
        if "torch._dynamo" not in sys.modules:
            return _apply
        _apply_eager = torch.compiler.disable(_apply)
    return _apply_eager


def _check_values(name: str, v: torch.Tensor) -> None:
    """Finite and non-negative (a host sync on CUDA: done once by the Module, at construction)."""
    if not bool(torch.isfinite(v).all()) or bool((v < 0).any()):
        raise ValueError(f"{name} must be finite and non-negative")


def _check_label_vector(
    name: str, v: object, N: int, logits: torch.Tensor, values: bool = True
) -> torch.Tensor | None:
    if v is None:
        return None
    if not isinstance(v, torch.Tensor):
        raise TypeError(
            f"{name} must be a 1-D torch.Tensor of length N={N}, got {type(v).__name__}"
        )
    if v.ndim != 1 or v.numel() != N:
        raise ValueError(
            f"{name} must have shape ({N},) (one entry per label), got {tuple(v.shape)}"
        )
    if not v.dtype.is_floating_point:
        raise TypeError(f"{name} must be floating, got dtype {v.dtype}")
    if v.device != logits.device:
        raise ValueError(f"{name} is on {v.device} but logits are on {logits.device}")
    if v.requires_grad:
        raise ValueError(f"{name} must not require grad (it is treated as a constant)")
    if values:
        _check_values(name, v)
    return v


def _check_logits(logits: object) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.dtype.is_floating_point:
        raise TypeError(
            f"logits must be floating (float16, bfloat16, float32, float64), got dtype {logits.dtype}"
        )
    if logits.ndim < 2:
        raise ValueError(
            f"logits must have shape (B, N, ...) (labels on dim 1), got {tuple(logits.shape)}"
        )
    if logits.shape[1] < 1:
        raise ValueError("logits must have at least one label (dim 1)")
    return logits


def smoothing_loss_from_config(
    logits: torch.Tensor,
    target: torch.Tensor | PositiveIndices,
    config: SmoothingConfig,
    *,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
    ignore_index: float | int | None = None,
    ignore_mask: torch.Tensor | None = None,
    soft_targets: bool = False,
    validate: bool = True,
    backend: str = "auto",
    _weights_checked: bool = False,
) -> torch.Tensor:
    """:func:`multilabel_smoothing_loss` for an already validated :class:`SmoothingConfig`."""
    logits = _check_logits(logits)
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    use_triton = _use_triton(backend, logits)
    N = logits.shape[1]
    if config.prior is not None and config.prior.numel() != N:
        raise ValueError(f"prior has length {config.prior.numel()} but logits have N={N} labels")
    weight = _check_label_vector("weight", weight, N, logits, not _weights_checked)
    pos_weight = _check_label_vector("pos_weight", pos_weight, N, logits, not _weights_checked)
    if pos_weight is not None and config.family == "softmax":
        raise ValueError(
            f"pos_weight is not defined for the softmax strategy {config.name!r}: a softmax "
            "target has no separate positive term; use weight (per label) instead"
        )
    source = make_source(
        target,
        logits.shape,
        logits.device,
        ignore_index=ignore_index,
        ignore_mask=ignore_mask,
        soft_targets=soft_targets,
        validate=validate,
    )
    return _runner()(use_triton, logits, config, source, weight, pos_weight, reduction)


def multilabel_smoothing_loss(
    logits: torch.Tensor,
    target: torch.Tensor | PositiveIndices,
    *,
    strategy: str,
    epsilon: float | None = None,
    epsilon_pos: float | None = None,
    epsilon_neg: float | None = None,
    prior: Sequence[float] | torch.Tensor | None = None,
    reduction: str = "mean",
    weight: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
    ignore_index: float | int | None = None,
    ignore_mask: torch.Tensor | None = None,
    soft_targets: bool = False,
    empty_rows: str | None = None,
    full_rows: str | None = None,
    validate: bool = True,
    backend: str = "auto",
) -> torch.Tensor:
    """Label-smoothed multi-label loss.

    The target ``t`` of every strategy is :func:`~multilabel_ls.smooth_targets` (see its table);
    the loss is the strategy family's cross-entropy against ``t``:

    * **sigmoid** strategies (``binary``, ``binary_uniform``, ``mass_preserving``,
      ``asymmetric``, ``prior``), per label, as :class:`torch.nn.BCEWithLogitsLoss`::

          l_ij = w_j [pw_j t_ij softplus(-x_ij) + (1 - t_ij) softplus(x_ij)]
               = w_j [softplus(x_ij) - t_ij x_ij]            (pw_j = 1)

    * **softmax** strategies (``uniform``, ``positive_split``, ``unnormalized``,
      ``asymmetric_softmax``, ``prior_softmax``), per row over the known labels, as
      :class:`torch.nn.CrossEntropyLoss` with probability targets::

          l_i = -sum_j w_j t_ij log softmax(x_i)_j

    Parameters
    ----------
    logits:
        ``(B, N)`` or ``(B, N, d1, ...)`` floating tensor; labels on dim 1 (as PyTorch), so
        e.g. multi-label segmentation ``(B, N, H, W)`` works. float16/bfloat16 logits are
        computed in float32; the returned loss is float32 for them (float64 for float64).
    target:
        Dense multi-hot of the logits' shape (bool; integer 0/1; float 0/1, or any value in
        ``[0, 1]`` with ``soft_targets=True``) or :class:`~multilabel_ls.PositiveIndices`
        (sparse positive indices, ``(B, N)`` logits only).
    strategy, epsilon, epsilon_pos, epsilon_neg, prior, empty_rows, full_rows:
        The smoothing configuration (:func:`multilabel_ls.strategies.make_config`). ε defaults to
        0 (no smoothing). ``empty_rows`` / ``full_rows`` set the policy for rows with ``n = 0``
        and ``n = N``; by default ``"keep"`` where the strategy defines them, ``"error"`` where
        it does not (never NaN).
    reduction:
        ``"mean"``, ``"sum"`` or ``"none"``. Sigmoid: ``"none"`` is elementwise (shape of the
        logits, 0 at unknown labels), ``"mean"`` averages over the known elements of valid
        rows (as ``BCEWithLogitsLoss``: not divided by the weights). Softmax: ``"none"`` is per
        row (shape ``(B, d1, ...)``), ``"mean"`` averages over valid rows (rows with at least
        one known label and not skipped; as ``CrossEntropyLoss`` with probability targets, not
        divided by the weights). With nothing valid the mean is 0.
    weight:
        Optional per-label weights ``w`` (shape ``(N,)``), both families.
    pos_weight:
        Optional per-label weight of the positive term (sigmoid family only; as
        ``BCEWithLogitsLoss``). A softmax target has no separate positive term: passing it to a
        softmax strategy raises.
    ignore_index, ignore_mask:
        Unknown labels: a value of the dense target (a number — int, float or NumPy scalar —
        e.g. ``-100``; not 0/1, not NaN, integral for an integer target; ``±inf`` only for a
        floating target), and/or a bool tensor of the logits' shape (True = unknown). They are
        excluded from the loss and from ``N`` and ``n``; softmax strategies normalise over the
        known labels only, so the smoothing mass is spread over the known labels (derivation
        ``D1.5``).
    soft_targets:
        Allow target values strictly between 0 and 1 (off by default, so that already-smoothed
        targets are not smoothed twice by mistake).
    validate:
        Check target values (one extra comparison per block). ``False`` skips it.
    backend:
        ``"auto"`` (default): the fused Triton kernels (:mod:`multilabel_ls.kernels`) for CUDA
        tensors when Triton is installed, the closed-form PyTorch path otherwise.
        ``"torch"``: always the closed-form path. ``"triton"``: always the kernels; CUDA
        tensors, or any device under Triton's interpreter (``TRITON_INTERPRET=1``, for tests);
        otherwise ``RuntimeError``. Both give the same loss and gradient (to rounding).

    Returns
    -------
    Tensor: a scalar for ``"mean"``/``"sum"``, else as described under ``reduction``.

    Notes
    -----
    The backward pass is the closed-form gradient (sigmoid: ``w (σ(x)(pw t + 1 - t) - pw t)``;
    softmax: ``S_w softmax(x) - w t`` with ``S_w = Σ_j w_j t_j``), computed block by block, so no
    dense smoothed target and no ``B x N`` intermediate is kept. No gradient flows to the target
    (a target that requires grad raises).

    Second-order gradients (``torch.autograd.grad(..., create_graph=True)``: gradient penalties,
    Hessian-vector products) are exact: under ``create_graph`` the backward pass computes the same
    gradient with differentiable operations (it then holds a dense target, ``B x N``), so the loss
    Hessian (derivations ``D2.4``, ``D3.4``) is part of the graph.

    Row sums are combined without cancellation (derivations ``D2.8``, ``D3.9``): next to a huge
    logit the loss of the other labels is kept, as PyTorch's float32 losses keep it. Infinite
    logits: the loss is ``+inf`` where the target gives weight to what the logit rules out
    (sigmoid: ``t < 1`` at ``+inf`` or ``t > 0`` at ``-inf``; softmax: ``t > 0`` at ``-inf``); a
    term whose coefficient is exactly 0 contributes 0 — where PyTorch's losses give
    ``0 · inf = NaN`` (a target of exactly 1 at ``+inf``), this gives the limit. A softmax row with
    ``k`` logits at ``+inf`` has the limit distribution ``1/k`` on them. The gradient is finite for
    finite targets; NaN logits give NaN. The Triton kernels follow the same conventions for dense
    targets, except at ``+inf`` softmax logits (NaN, as in PyTorch). With sparse
    :class:`~multilabel_ls.PositiveIndices` targets the kernels correct the dense pass at the
    positives by a difference, so there a huge correct logit can still absorb the rest of its
    row's loss (use ``backend="torch"`` or a dense target for such logits).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[2.0, -1.0, 0.5]])
    >>> y = torch.tensor([[1, 0, 1]])
    >>> loss = multilabel_smoothing_loss(x, y, strategy="binary", epsilon=0.1)
    >>> ref = torch.nn.functional.binary_cross_entropy_with_logits(x, y * 0.9 + 0.05)
    >>> torch.allclose(loss, ref)
    True
    """
    config = make_config(
        strategy,
        epsilon=epsilon,
        epsilon_pos=epsilon_pos,
        epsilon_neg=epsilon_neg,
        prior=prior,
        empty_rows=empty_rows,
        full_rows=full_rows,
    )
    return smoothing_loss_from_config(
        logits,
        target,
        config,
        reduction=reduction,
        weight=weight,
        pos_weight=pos_weight,
        ignore_index=ignore_index,
        ignore_mask=ignore_mask,
        soft_targets=soft_targets,
        validate=validate,
        backend=backend,
    )


class MultiLabelSmoothingLoss(nn.Module):
    """``nn.Module`` form of :func:`multilabel_smoothing_loss` (holds configuration only).

    The configuration (strategy, ε, prior, policies, the values of ``weight`` and
    ``pos_weight``) is validated once, at construction, so a training step does no host
    synchronisation for it. ``weight``, ``pos_weight`` and ``prior`` are registered as buffers,
    so ``.to(device)`` moves them. ``backend`` is passed on to
    :func:`multilabel_smoothing_loss` (``"auto"``: Triton kernels for CUDA tensors when Triton is
    installed, the closed-form PyTorch path otherwise).

    Examples
    --------
    >>> import torch
    >>> crit = MultiLabelSmoothingLoss(strategy="uniform", epsilon=0.1)
    >>> x, y = torch.zeros(2, 4), torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0]])
    >>> round(crit(x, y).item(), 4)  # softmax of zeros: -log(1/4) for any target distribution
    1.3863
    """

    def __init__(
        self,
        strategy: str,
        epsilon: float | None = None,
        *,
        epsilon_pos: float | None = None,
        epsilon_neg: float | None = None,
        prior: Sequence[float] | torch.Tensor | None = None,
        reduction: str = "mean",
        weight: torch.Tensor | None = None,
        pos_weight: torch.Tensor | None = None,
        ignore_index: float | int | None = None,
        soft_targets: bool = False,
        empty_rows: str | None = None,
        full_rows: str | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.config = make_config(
            strategy,
            epsilon=epsilon,
            epsilon_pos=epsilon_pos,
            epsilon_neg=epsilon_neg,
            prior=prior,
            empty_rows=empty_rows,
            full_rows=full_rows,
        )
        if pos_weight is not None and self.config.family == "softmax":
            raise ValueError(
                f"pos_weight is not defined for the softmax strategy {strategy!r}; use weight"
            )
        for name, v in (("weight", weight), ("pos_weight", pos_weight)):
            if v is not None:
                if not isinstance(v, torch.Tensor) or not v.dtype.is_floating_point or v.ndim != 1:
                    raise TypeError(f"{name} must be a 1-D floating torch.Tensor, got {v!r}")
                _check_values(name, v)
        self.reduction = reduction
        self.ignore_index = check_ignore_index(ignore_index)  # fails here, not at forward
        self.soft_targets = soft_targets
        self.backend = backend
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        # a private copy: the buffer must not change when the caller's tensor does
        prior_buf = None if self.config.prior is None else self.config.prior.clone()
        self.config = dataclasses.replace(self.config, prior=prior_buf)
        self.register_buffer("prior", prior_buf)

    @property
    def strategy(self) -> str:
        return self.config.name

    @property
    def epsilon(self) -> float:
        return self.config.epsilon

    def forward(
        self,
        logits: torch.Tensor,
        target: torch.Tensor | PositiveIndices,
        ignore_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        config = self.config
        if self.prior is not None and self.prior is not config.prior:
            config = dataclasses.replace(config, prior=self.prior)
        return smoothing_loss_from_config(
            logits,
            target,
            config,
            reduction=self.reduction,
            weight=self.weight,
            pos_weight=self.pos_weight,
            ignore_index=self.ignore_index,
            ignore_mask=ignore_mask,
            soft_targets=self.soft_targets,
            backend=self.backend,
            _weights_checked=True,
        )

    def extra_repr(self) -> str:
        c = self.config
        eps = (
            f"epsilon_pos={c.epsilon_pos}, epsilon_neg={c.epsilon_neg}"
            if "epsilon_pos" in c.strategy.parameters
            else f"epsilon={c.epsilon}"
        )
        return f"strategy={c.name!r}, {eps}, reduction={self.reduction!r}"
