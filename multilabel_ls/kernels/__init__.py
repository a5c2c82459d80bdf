"""Fused Triton kernels for :func:`multilabel_ls.multilabel_smoothing_loss` (CUDA).

One file per loss family, Liger-Kernel style (kernels, host launcher and autograd Function
together): :mod:`.sigmoid` and :mod:`.softmax`; :mod:`._common` holds what they share (target
loading, row counts, launch geometry). The public loss dispatches here for CUDA tensors
(``backend="auto"``) and runs the closed-form PyTorch path (:mod:`multilabel_ls._closed_form`)
elsewhere; both give the same loss and gradient (tests in ``tests/kernels``).

Importing this package does not import Triton; :func:`fused_loss` does. Triton decides at that
import whether kernels are compiled for the GPU or run by its CPU interpreter (environment
variable ``TRITON_INTERPRET=1``, which the test-suite sets to run the kernels without a GPU).
"""

from __future__ import annotations

import importlib.util

import torch

__all__ = ["check_available", "fused_loss", "interpreted", "triton_available"]


def triton_available() -> bool:
    """Whether the ``triton`` package can be imported (it is not imported here)."""
    return importlib.util.find_spec("triton") is not None


def interpreted() -> bool:
    """Whether the kernels run in Triton's CPU interpreter (imports the kernels)."""
    from ._common import INTERPRETED

    return INTERPRETED


def check_available(device: torch.device) -> None:
    """Raise unless the kernels can run on ``device``.

    Parameters
    ----------
    device:
        Where the logits are. The kernels run on CUDA devices, and on any device when Triton's
        interpreter is active.

    Raises
    ------
    RuntimeError
        Triton is not installed, or ``device`` is not CUDA and the interpreter is off.
    """
    if not triton_available():
        raise RuntimeError(
            "backend='triton' needs the triton package (pip install triton); "
            "use backend='torch' or 'auto'"
        )
    if device.type != "cuda" and not interpreted():
        raise RuntimeError(
            f"backend='triton' needs CUDA tensors, got tensors on {device}; use backend='torch' "
            "or 'auto' (for tests, TRITON_INTERPRET=1 set before multilabel_ls.kernels is first "
            "used runs the kernels in Triton's CPU interpreter)"
        )


def fused_loss(logits, config, source, weight, pos_weight, reduction: str) -> torch.Tensor:
    """The loss through the Triton kernels, with the semantics of the closed-form path.

    Parameters
    ----------
    logits:
        ``(B, N)`` or ``(B, N, d1, ...)`` floating tensor (a non-contiguous one is copied).
    config:
        A validated :class:`~multilabel_ls.strategies.SmoothingConfig`.
    source:
        The target as built by :func:`multilabel_ls.targets.make_source` (dense or sparse).
    weight, pos_weight:
        Optional validated per-label vectors (``pos_weight``: sigmoid family only).
    reduction:
        ``"mean"``, ``"sum"`` or ``"none"``.

    Returns
    -------
    Tensor
        As :class:`~multilabel_ls._closed_form.ClosedFormLoss`: a float32 (float64 for float64
        logits) scalar, or the elementwise (sigmoid) / per-row (softmax) losses.

    Notes
    -----
    Inputs must already be validated (:func:`multilabel_ls.losses.smoothing_loss_from_config`
    does it). The caller's tensors are only read. The gradient is computed only when grad mode
    is on and ``logits`` requires it.
    """
    from ._common import prepare

    if logits.numel() == 0:  # nothing to launch (a zero-sized grid): the closed form is exact
        from .._closed_form import ClosedFormLoss

        return ClosedFormLoss.apply(logits, config, source, weight, pos_weight, reduction)
    need_grad = torch.is_grad_enabled() and logits.requires_grad
    p = prepare(logits, config, source, weight, pos_weight)
    if config.family == "softmax":
        from .softmax import SoftmaxLoss as Fn
    else:
        from .sigmoid import SigmoidLoss as Fn
    if logits.is_cuda and logits.device.index != torch.cuda.current_device():
        # Triton launches on the current device; autograd sets it for backward itself
        with torch.cuda.device(logits.device):
            return Fn.apply(logits, p, config, reduction, need_grad)
    return Fn.apply(logits, p, config, reduction, need_grad)
