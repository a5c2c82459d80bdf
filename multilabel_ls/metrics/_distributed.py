"""Merging metric states across processes with ``torch.distributed``.

Two kinds of state: *sum* states (NumPy arrays of counts and sums, merged by ``all_reduce``)
and *cat* states (the per-entry arrays exact AP keeps, merged by an ``all_gather`` of
padded tensors, in rank order). Every rank must take part in the same calls, including ranks
that saw no data: a first ``all_gather_object`` of shapes and dtypes lets them contribute
zeros of the right shape.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist


def is_distributed(group=None) -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def _device(group) -> torch.device:
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _meta(value):
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return tuple(value.shape), str(value.dtype).replace("torch.", "")
    return tuple(value.shape), str(value.dtype)


def _common(metas: list, name: str):
    known = [m for m in metas if m is not None]
    if not known:
        return None
    shapes = {m[0][1:] for m in known}
    if len(shapes) > 1:
        raise ValueError(f"state {name!r} has different shapes on different ranks: {shapes}")
    dtypes = [m[1] for m in known]
    dtype = "float64" if "float64" in dtypes else dtypes[0]
    return known[0][0][1:], dtype


def _as_tensor(value, dtype: str, device) -> torch.Tensor:
    if isinstance(value, (np.ndarray, np.generic)):
        value = torch.from_numpy(np.array(value, order="C"))  # keeps 0-d arrays 0-d
    if dtype == "bool":
        value = value.to(torch.uint8)  # gloo has no bool collectives
    else:
        value = value.to(getattr(torch, dtype))
    return value.to(device).contiguous()


def sync_states(sums: dict, cats: dict, group=None, extra=None) -> tuple[dict, dict, list]:
    """Global (summed / concatenated) copies of the local states; the inputs are not modified.

    ``sums`` maps names to NumPy arrays (or ``None`` before any update); ``cats`` maps names to
    one concatenated array or tensor per rank (or ``None``). Cat results come back as torch
    tensors on the collective's device (CPU for gloo).
    """
    world = dist.get_world_size(group)
    local = {"sums": {k: _meta(v) for k, v in sums.items()}}
    local["cats"] = {k: _meta(v) for k, v in cats.items()}
    local["extra"] = extra
    metas: list = [None] * world
    dist.all_gather_object(metas, local, group=group)
    device = _device(group)

    out_sums = {}
    for name, value in sums.items():
        known = [m["sums"][name] for m in metas if m["sums"][name] is not None]
        if not known:
            out_sums[name] = None
            continue
        if len({m[0] for m in known}) > 1:
            raise ValueError(f"state {name!r} has different shapes on different ranks: {known}")
        shape, dtype = known[0]
        t = torch.zeros(shape, dtype=torch.float64, device=device)
        if value is not None:
            t += _as_tensor(value, "float64", device)  # counts are exact in float64 to 2**53
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
        out_sums[name] = t.cpu().numpy().astype(dtype)

    out_cats = {}
    for name, value in cats.items():
        common = _common([m["cats"][name] for m in metas], name)
        if common is None:
            out_cats[name] = None
            continue
        tail, dtype = common
        lengths = [0 if m["cats"][name] is None else m["cats"][name][0][0] for m in metas]
        n_max = max(lengths)
        buf = torch.zeros((n_max, *tail), dtype=torch.uint8 if dtype == "bool" else getattr(torch, dtype), device=device)  # fmt: skip
        if value is not None and len(value):
            buf[: len(value)] = _as_tensor(value, dtype, device)
        gathered = [torch.empty_like(buf) for _ in range(world)]
        dist.all_gather(gathered, buf, group=group)
        parts = [g[:n] for g, n in zip(gathered, lengths, strict=True)]
        res = torch.cat(parts)
        res = res.bool() if dtype == "bool" else res
        out_cats[name] = res.numpy() if res.device.type == "cpu" else res
    return out_sums, out_cats, [m["extra"] for m in metas]
