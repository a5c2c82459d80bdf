"""Train one run of the grid and evaluate it: :func:`run_one`.

Determinism: everything random in a run derives from its seed — the validation carve and the
noise draw (:mod:`.prepare`), the initialisation and dropout (``torch.manual_seed``), and the
batch order (a ``torch.Generator`` seeded per run). With the same number of torch threads
the same :class:`~.config.RunSpec` gives bit-identical logits; the runner pins the thread
count (default 1) so results do not depend on how many workers run the grid.

Loss normalisation: the loss is computed with ``reduction="sum"`` and divided by the size of
the *global* minibatch (sigmoid: rows × labels; softmax: rows that the row policy does not
skip), which equals ``reduction="mean"`` single-process and makes data-parallel training
exact: each rank's shard loss is scaled by the world size because DDP averages gradients.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch

from multilabel_ls import label_priors, multilabel_smoothing_loss
from multilabel_ls.strategies import get_strategy

from .config import RunSpec, TrainConfig
from .distributed import DistContext, wrap_model
from .evaluate import evaluate, validation_map
from .models import build_model, resolve_model_kind
from .prepare import PreparedData, prepare_data


def resolve_row_policies(strategy: str, train: TrainConfig) -> tuple[str, str]:
    """``(empty_rows, full_rows)`` with ``"auto"`` = keep where defined, else skip."""
    s = get_strategy(strategy)
    empty = (
        train.empty_rows if train.empty_rows != "auto" else ("keep" if s.defined_empty else "skip")
    )
    full = train.full_rows if train.full_rows != "auto" else ("keep" if s.defined_full else "skip")
    return empty, full


def loss_kwargs(spec: RunSpec, Y_fit: np.ndarray) -> dict[str, Any]:
    """Keyword arguments of :func:`multilabel_smoothing_loss` for ``spec`` (priors from ``Y_fit``)."""
    s = get_strategy(spec.strategy)
    empty, full = resolve_row_policies(spec.strategy, spec.train)
    kw: dict[str, Any] = {"strategy": spec.strategy, "empty_rows": empty, "full_rows": full}
    if "epsilon_pos" in s.parameters:
        kw.update(epsilon_pos=spec.epsilon_pos, epsilon_neg=spec.epsilon_neg)
    else:
        kw["epsilon"] = spec.epsilon
    if s.uses_prior:
        # Priors from the labels the model is trained on (never from validation or test).
        kw["prior"] = label_priors(Y_fit, kind=s.family, pseudo_count=1.0)
    return kw


def _denominator(Y: torch.Tensor, family: str, empty: str, full: str) -> int:
    """Number of loss terms ``reduction="mean"`` averages over for the (global) batch ``Y``."""
    if family == "sigmoid":
        return Y.numel()
    n = Y.sum(dim=1)
    skipped = torch.zeros_like(n, dtype=torch.bool)
    if empty == "skip":
        skipped |= n == 0
    if full == "skip":
        skipped |= n == Y.shape[1]
    return int((~skipped).sum())


@torch.no_grad()
def predict(model: torch.nn.Module, X: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """Logits of ``X`` in eval mode (batched to bound memory)."""
    model.eval()
    return torch.cat([model(X[i : i + batch]) for i in range(0, len(X), batch)]) if len(X) else X


def fit(
    model: torch.nn.Module,
    data: PreparedData,
    kw: dict[str, Any],
    train: TrainConfig,
    seed: int,
    ctx: DistContext | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place with early stopping on validation macro mAP; restore the best.

    Returns
    -------
    dict
        ``best_epoch`` (1-based), ``epochs`` (run), ``best_val_map``, ``val_map`` and
        ``train_loss`` (per epoch).
    """
    ctx = ctx or DistContext()
    family = get_strategy(kw["strategy"]).family
    X, Y = torch.from_numpy(data.X_fit), torch.from_numpy(data.Y_fit)
    X_val = torch.from_numpy(data.X_val)
    net = wrap_model(model, ctx)
    opt = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = len(X)
    bs = n if train.batch_size == 0 else min(train.batch_size, n)
    best, best_state, best_epoch, since = float("-inf"), None, 0, 0
    hist_val, hist_loss = [], []
    for epoch in range(1, train.max_epochs + 1):
        net.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, bs):
            idx = perm[start : start + bs]
            denom = _denominator(Y[idx], family, kw["empty_rows"], kw["full_rows"])
            local = idx.tensor_split(ctx.world_size)[ctx.rank] if ctx.enabled else idx
            logits = net(X[local])
            if denom == 0 or len(local) == 0:
                loss = logits.sum() * 0.0  # keeps DDP's all-reduce in step on every rank
            else:
                loss = multilabel_smoothing_loss(logits, Y[local], reduction="sum", **kw)
                loss = loss * (ctx.world_size / denom)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx) / ctx.world_size
        v = validation_map(data.Y_val, predict(model, X_val), family)
        hist_val.append(v)
        hist_loss.append(total / n)
        if v > best:
            best, best_epoch, since = v, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since += 1
            if since >= train.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return {
        "best_epoch": best_epoch,
        "epochs": len(hist_val),
        "best_val_map": best,
        "val_map": hist_val,
        "train_loss": hist_loss,
    }


def run_one(
    spec: RunSpec, *, ctx: DistContext | None = None, threads: int | None = 1
) -> dict[str, Any]:
    """Prepare data, train, evaluate on the test split; return the result record.

    Parameters
    ----------
    spec : RunSpec
        The run.
    ctx : DistContext, optional
        Data-parallel context (torchrun); single-process by default.
    threads : int or None
        ``torch.set_num_threads`` for the run (``None`` leaves it alone). Fixing it keeps
        results bit-identical however the grid is scheduled.

    Returns
    -------
    dict
        ``key``, ``spec`` (:meth:`RunSpec.identity`), ``metrics`` (:func:`evaluate`),
        ``family``, ``loss`` (row policies and strategy arguments as used), ``data`` (sizes,
        cardinality, noise record), ``history`` (:func:`fit`), ``model``, ``seconds``,
        ``prior`` (the label prior the loss used, a list of floats, or None), ``test_logits``
        (float32 ndarray, for reliability diagrams and re-evaluation), ``test_labels``
        (uint8), and ``val_logits`` / ``val_labels``: the restored model's logits on the
        validation rows and the labels it was validated on (noisy unless
        ``clean_validation``), for post-hoc calibration fitted on validation data only.
    """
    t0 = time.perf_counter()
    if threads is not None:
        torch.set_num_threads(threads)
    data = prepare_data(spec)
    kw = loss_kwargs(spec, data.Y_fit)
    family = get_strategy(spec.strategy).family
    torch.manual_seed(spec.seed)
    model = build_model(spec.train, data.X_fit.shape[1], data.Y_fit.shape[1], data.image_shape)
    history = fit(model, data, kw, spec.train, spec.seed, ctx)
    logits = predict(model, torch.from_numpy(data.X_test)).numpy()
    val_logits = predict(model, torch.from_numpy(data.X_val)).numpy()
    metrics = evaluate(
        data.Y_test, logits, family, cardinality=data.cardinality,
        threshold=spec.eval.threshold, n_bins=spec.eval.n_bins, train_rates=data.train_rates,
    )  # fmt: skip
    loss_rec = {k: v for k, v in kw.items() if k != "prior"}
    loss_rec["prior"] = "label_priors(Y_fit, pseudo_count=1)" if "prior" in kw else None
    return {
        "key": spec.key,
        "spec": spec.identity(),
        "family": family,
        "metrics": metrics,
        "loss": loss_rec,
        "data": data.info,
        "history": history,
        "model": resolve_model_kind(spec.train, data.image_shape),
        "seconds": time.perf_counter() - t0,
        "prior": kw["prior"].tolist() if "prior" in kw else None,
        "test_logits": logits.astype(np.float32),
        "test_labels": data.Y_test.astype(np.uint8),
        "val_logits": val_logits.astype(np.float32),
        "val_labels": data.Y_val.astype(np.uint8),
    }
