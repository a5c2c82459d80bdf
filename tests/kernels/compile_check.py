"""Compile the kernels for an sm_90 GPU without one (Triton's compiler and ``ptxas`` only).

Triton's interpreter runs the kernels' Python, not Triton's compiler: type errors in
compile-time branches, scalar-argument types and the like show only when compiling. This
script runs a representative set of calls of the public loss in a process where Triton
compiles (no ``TRITON_INTERPRET``); every kernel launch is replaced by a compilation of that
launch's signature for ``GPUTarget("cuda", 90, 32)``, nothing runs (the host code then sees
uninitialised outputs, which is fine for this purpose). Prints ``compiled K failed F`` and the
failures; exit status 1 if any failed. ``--full`` covers every dtype, target form and strategy
(about 1,800 variants, minutes); the default set takes seconds. Used by ``test_compile.py``.
"""

from __future__ import annotations

import sys
import warnings

import torch
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.jit import mangle_type

import multilabel_ls.kernels as K
from multilabel_ls import STRATEGIES, PositiveIndices, multilabel_smoothing_loss
from multilabel_ls.kernels import _common, sigmoid, softmax

TARGET = GPUTarget("cuda", 90, 32)


class Compiler:
    def __init__(self, specialize_ones: bool):
        self.specialize_ones = specialize_ones
        self.seen: set = set()
        self.ok = 0
        self.failed: list = []

    def __call__(self, kernel, grid, *args, **meta):
        opts = {k: meta.pop(k) for k in ("num_warps", "num_stages") if k in meta}
        sig, consts = {}, {}
        for name, a in zip(kernel.arg_names, args, strict=False):
            if self.specialize_ones and type(a) is int and a == 1:  # as Triton specialises
                sig[name], consts[name] = "constexpr", 1
            else:
                sig[name] = mangle_type(a)
        for k, v in meta.items():
            sig[k], consts[k] = "constexpr", v
        key = (kernel.fn.__name__, repr(sorted(sig.items())), repr(sorted(consts.items())),
               repr(sorted(opts.items())))  # fmt: skip
        if key in self.seen:
            return
        self.seen.add(key)
        try:
            triton.compile(ASTSource(fn=kernel, signature=sig, constexprs=consts),
                           target=TARGET, options=opts)  # fmt: skip
            self.ok += 1
        except Exception as e:  # report every failure, not only the first
            self.failed.append((kernel.fn.__name__, consts, repr(e)[-1500:]))


def scenarios(full: bool):
    """(logits, target, keyword arguments): every target form per dtype and shape with
    ``full``; else every target form once (float32) and the bool target for bf16, for the
    segmentation layout and for a row split into chunks."""
    forms = []
    for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.float64):
        for shape in ((4, 50), (2, 3, 5), (1, 5000)):
            if not full and dtype in (torch.float16, torch.float64):
                continue
            forms.append((dtype, shape, full or (dtype == torch.float32 and shape == (4, 50))))
    for dtype, shape, every in forms:
        x = torch.randn(*shape).to(dtype).requires_grad_()
        y = torch.rand(*shape) < 0.3
        mask = torch.rand(*shape) < 0.1
        yield x, y, {}
        if not every:
            continue
        yield x, y.long().masked_fill(mask, -100), {"ignore_index": -100}
        yield x, y.float() * 0.5, {"soft_targets": True}
        yield x, y, {"ignore_mask": mask, "weight": torch.rand(shape[1])}
        if len(shape) == 2:
            yield x, PositiveIndices.from_dense(y), {}
            yield x, PositiveIndices.from_dense(y), {"ignore_mask": mask}


def run(full: bool) -> int:
    K.check_available = lambda device: None  # CPU tensors stand in for CUDA ones here
    strategies = STRATEGIES if full else ("binary", "mass_preserving", "prior", "uniform",
                                          "prior_softmax")  # fmt: skip
    total_ok, failed = 0, []
    for ones in (False, True) if full else (True,):
        comp = Compiler(ones)
        _common.launch = sigmoid.launch = softmax.launch = comp
        for x, y, extra in scenarios(full):
            for s in strategies:
                kw = {"epsilon_pos": 0.1, "epsilon_neg": 0.01} if s.startswith("asym") else {
                    "epsilon": 0.1}  # fmt: skip
                if s.startswith("prior"):
                    p = torch.rand(x.shape[1]) + 0.1
                    kw["prior"] = p / p.sum() if s == "prior_softmax" else p
                if s in ("uniform", "positive_split", "prior_softmax"):
                    kw["empty_rows"] = "skip"
                if s == "positive_split":
                    kw["full_rows"] = "skip"
                ex = dict(extra)
                if s in ("binary", "prior") and "weight" in ex:
                    ex["pos_weight"] = torch.rand(x.shape[1])
                for red in ("mean", "sum", "none") if full else ("mean", "none"):
                    try:
                        loss = multilabel_smoothing_loss(x, y, strategy=s, reduction=red,
                                                         backend="triton", validate=False,
                                                         **kw, **ex)  # fmt: skip
                        go = torch.ones_like(loss)
                        torch.autograd.grad(loss, x, go, retain_graph=True)
                        torch.autograd.grad(loss, x, go)  # the recompute path
                    except (ValueError, RuntimeError):
                        pass  # host logic on uninitialised kernel outputs; compiling is the point
        total_ok += comp.ok
        failed += comp.failed
    print(f"compiled {total_ok} failed {len(failed)}")
    for name, consts, err in failed[:10]:
        print(name, consts, err, sep="\n", end="\n\n")
    return 1 if failed else 0


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning)
    sys.exit(run("--full" in sys.argv))
