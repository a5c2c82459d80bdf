"""Dispatch, autograd and compile behaviour of the fused kernels (``backend=`` of the public loss).

Runs on CUDA when present, else in Triton's CPU interpreter (see ``conftest.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from multilabel_ls import MultiLabelSmoothingLoss, PositiveIndices, multilabel_smoothing_loss
from multilabel_ls.kernels import _common

from ..test_losses import kwargs_for, random_batch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def launches(monkeypatch):
    """The kernels launched (name, compile-time arguments) while the test runs."""
    log: list = []
    monkeypatch.setattr(_common, "LAUNCH_LOG", log)
    return log


def _batch(device, B=4, N=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N, generator=gen).to(device)
    y = random_batch(B, N, gen).bool().to(device)
    return x, y


def test_backend_argument_is_checked(device):
    x, y = _batch(device)
    with pytest.raises(ValueError, match=r"backend must be one of .* got 'cuda'"):
        multilabel_smoothing_loss(x, y, strategy="binary", backend="cuda")


def test_backends_agree_and_dispatch(device):
    x, y = _batch(device)
    for s, fn in (("binary", "SigmoidLoss"), ("uniform", "SoftmaxLoss")):
        a = multilabel_smoothing_loss(x.requires_grad_(), y, strategy=s, backend="torch")
        b = multilabel_smoothing_loss(x, y, strategy=s, backend="triton")
        assert type(a.grad_fn).__name__ == "ClosedFormLossBackward"
        assert type(b.grad_fn).__name__ == f"{fn}Backward"
        torch.testing.assert_close(a, b)
        auto = multilabel_smoothing_loss(x, y, strategy=s)  # CUDA: kernels; CPU: closed form
        expected = f"{fn}Backward" if device.type == "cuda" else "ClosedFormLossBackward"
        assert type(auto.grad_fn).__name__ == expected
        x.requires_grad_(False)


def test_triton_backend_on_cpu_without_the_interpreter_is_a_clear_error():
    """A fresh process, Triton compiling for the GPU: CPU tensors are refused by name."""
    code = textwrap.dedent(
        """
        import torch
        from multilabel_ls import multilabel_smoothing_loss
        x, y = torch.zeros(2, 3), torch.tensor([[1, 0, 0], [0, 1, 1]])
        try:
            multilabel_smoothing_loss(x, y, strategy="binary", backend="triton")
        except RuntimeError as e:
            print("RuntimeError:", e)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert "RuntimeError: backend='triton' needs CUDA tensors, got tensors on cpu" in out.stdout, (
        out.stdout + out.stderr
    )


@pytest.mark.parametrize("strategy", ["binary", "mass_preserving", "uniform", "prior_softmax"])
def test_inputs_are_never_written(strategy, device):
    gen = torch.Generator().manual_seed(1)
    B, N = 3, 12
    x = torch.randn(B, N, generator=gen).to(device).requires_grad_()
    y = random_batch(B, N, gen).to(device)
    mask = (torch.rand(B, N, generator=gen) < 0.2).to(device)
    mask[:, :2] = False
    w = (torch.rand(N, generator=gen) + 0.5).to(device)
    kw = kwargs_for(strategy, 0.1, N, gen)
    if strategy in ("binary", "mass_preserving"):
        kw["pos_weight"] = (torch.rand(N, generator=gen) * 2).to(device)
    sp = PositiveIndices.from_dense(y)
    for tgt in (y, y.bool(), y.float(), sp):
        before = [t.clone() for t in (x.detach(), mask, w)]
        tb = (
            (tgt.indices.clone(), tgt.offsets.clone())
            if isinstance(tgt, PositiveIndices)
            else tgt.clone()
        )
        for red in ("mean", "none"):
            loss = multilabel_smoothing_loss(
                x, tgt, strategy=strategy, reduction=red, ignore_mask=mask, weight=w,
                backend="triton", **kw,
            )  # fmt: skip
            loss.sum().backward()
        for t, b in zip((x.detach(), mask, w), before, strict=True):
            assert torch.equal(t, b)
        if isinstance(tgt, PositiveIndices):
            assert torch.equal(tgt.indices, tb[0]) and torch.equal(tgt.offsets, tb[1])
        else:
            assert torch.equal(tgt, tb)


@pytest.mark.parametrize("strategy", ["binary", "uniform"])
def test_upstream_gradient_and_retain_graph(strategy, device):
    """``go != 1`` (scaled in place), a second backward (recomputed), ``go = 0``."""
    x, y = _batch(device, B=3, N=9, seed=2)
    ref_x = x.clone().requires_grad_()
    ref = multilabel_smoothing_loss(ref_x, y, strategy=strategy, epsilon=0.1, backend="torch")
    (g1,) = torch.autograd.grad(ref, ref_x)
    x.requires_grad_()
    loss = multilabel_smoothing_loss(x, y, strategy=strategy, epsilon=0.1, backend="triton")
    for scale in (3.0, 1.0, -0.5, 0.0, 2.0):
        (g,) = torch.autograd.grad(loss * scale, x, retain_graph=True)
        torch.testing.assert_close(g, g1 * scale)
    with torch.no_grad():
        x.mul_(2.0)  # an in-place change of the saved logits is caught, as on the torch path
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_no_gradient_work_without_grad(device, launches):
    x, y = _batch(device)
    with torch.no_grad():
        a = multilabel_smoothing_loss(x.requires_grad_(), y, strategy="binary", backend="triton")
    b = multilabel_smoothing_loss(x.detach(), y, strategy="binary", backend="triton")
    torch.testing.assert_close(a, b)
    sig = [meta for name, meta in launches if name == "_sigmoid_kernel"]
    assert len(sig) == 2 and not any(m["WRITE_GRAD"] for m in sig)


def test_epsilon_and_prior_are_runtime_arguments(device, launches):
    """An ε sweep (and a new prior) launches the same compiled kernels: only tensors change."""
    x, y = _batch(device, N=33)
    x.requires_grad_()
    seen = {}
    for s in ("binary", "mass_preserving", "asymmetric", "prior", "uniform", "prior_softmax"):
        for eps in (0.05, 0.1, 0.3, 0.6):
            launches.clear()
            kw = kwargs_for(s, eps, 33, torch.Generator().manual_seed(int(eps * 100)))
            loss = multilabel_smoothing_loss(x, y, strategy=s, backend="triton", **kw)
            loss.backward()
            meta = [(n, tuple(sorted((k, str(v)) for k, v in m.items()))) for n, m in launches]
            assert seen.setdefault(s, meta) == meta, s


def test_noncontiguous_logits_and_module(device):
    gen = torch.Generator().manual_seed(3)
    base = torch.randn(12, 5, generator=gen).to(device)
    x = base.t()  # (5, 12), not contiguous
    y = random_batch(5, 12, gen).to(device)
    for s in ("binary_uniform", "unnormalized"):
        xa = x.detach().clone().requires_grad_()
        xb = x.detach().requires_grad_()
        a = multilabel_smoothing_loss(xa, y, strategy=s, epsilon=0.2, backend="torch")
        b = multilabel_smoothing_loss(xb, y, strategy=s, epsilon=0.2, backend="triton")
        torch.testing.assert_close(b, a)
        torch.testing.assert_close(torch.autograd.grad(b, xb)[0], torch.autograd.grad(a, xa)[0])
    crit = MultiLabelSmoothingLoss("uniform", 0.1).to(device)
    torch.testing.assert_close(
        crit(x, y), multilabel_smoothing_loss(x, y, strategy="uniform", epsilon=0.1)
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["auto", "triton"])
def test_torch_compile_around_the_loss(backend, device):
    """A compiled function calling the loss: same loss and gradient as eager. The loss is a
    graph break (``torch.compiler.disable``): it runs eagerly inside the compiled code."""
    torch._dynamo.reset()
    gen = torch.Generator().manual_seed(4)
    x0 = torch.randn(4, 7, generator=gen).to(device)
    y = random_batch(4, 7, gen).to(device)
    lin = torch.randn(7, 7, generator=gen).to(device)

    def step(x, y, s):
        z = torch.tanh(x @ lin) * 3
        return (
            multilabel_smoothing_loss(z, y, strategy=s, epsilon=0.1, backend=backend)
            + z.pow(2).mean()
        )

    compiled = torch.compile(step)
    for s in ("binary", "uniform"):
        xe = x0.clone().requires_grad_()
        xc = x0.clone().requires_grad_()
        le = step(xe, y, s)
        lc = compiled(xc, y, s)
        torch.testing.assert_close(lc, le)
        torch.testing.assert_close(torch.autograd.grad(lc, xc)[0], torch.autograd.grad(le, xe)[0])


def test_forward_gradient_buffer_becomes_the_grad(device):
    """Sigmoid "mean": the gradient written in forward is handed to autograd, not copied
    (peak extra memory stays one gradient)."""
    x, y = _batch(device, B=3, N=50)
    x.requires_grad_()
    loss = multilabel_smoothing_loss(x, y, strategy="binary", epsilon=0.1, backend="triton")
    ptr = loss.grad_fn.grad.data_ptr()  # the autograd node is the Function's ctx
    loss.backward()
    assert x.grad.data_ptr() == ptr


@pytest.mark.parametrize(
    ("strategy", "target", "forward", "backward"),
    [
        ("binary", "bool", ["_sigmoid_kernel"], ["_scale_kernel"]),
        ("prior", "bool", ["_sigmoid_kernel"], ["_scale_kernel"]),
        ("mass_preserving", "bool", ["_row_stats_kernel", "_sigmoid_kernel"], ["_scale_kernel"]),
        ("binary", "int", ["_row_stats_kernel", "_sigmoid_kernel"], ["_scale_kernel"]),
        ("binary", "sparse", ["_sigmoid_kernel", "_sigmoid_sparse_kernel"], ["_scale_kernel"]),
        (
            "uniform",
            "bool",
            ["_softmax_sums_kernel", "_softmax_rows_kernel", "_softmax_finish_kernel"],
            ["_scale_kernel"],
        ),
    ],
)
def test_pass_structure(strategy, target, forward, backward, device, launches):
    """The bandwidth design, as launches: sigmoid reads the logits once (plus a 1-byte target
    pass only when the coefficients need row counts or the values need checking), softmax
    twice; backward of "mean" only rescales the gradient written in forward."""
    x, y = _batch(device, B=3, N=40)
    x.requires_grad_()
    tgt = {"bool": y, "int": y.long(), "sparse": PositiveIndices.from_dense(y)}[target]
    kw = kwargs_for(strategy, 0.1, 40, torch.Generator().manual_seed(0))
    loss = multilabel_smoothing_loss(x, tgt, strategy=strategy, backend="triton", **kw)
    assert [n for n, _ in launches] == forward
    launches.clear()
    loss.backward()
    assert [n for n, _ in launches] == backward
