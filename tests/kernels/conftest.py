"""Kernel tests run on a GPU when there is one, else through Triton's CPU interpreter.

Triton decides between compiling and interpreting when a kernel is *decorated*
(``TRITON_INTERPRET`` read at import of the module that defines it), not when it runs. So
without CUDA this conftest sets ``TRITON_INTERPRET=1`` only while it imports (or re-imports)
Triton and the kernel modules of :mod:`multilabel_ls.kernels`, then restores the environment:
the other tests of the session never see the variable (and nothing else in the package uses
the kernels on CPU tensors), while every kernel test runs the interpreted kernels on CPU
tensors. If Triton was already imported in compiled mode (by another test module), Triton's
own library cannot be switched any more: ``test_subprocess.py`` then runs this directory in a
child process with ``TRITON_INTERPRET=1`` and the tests here are skipped in this process.
Without Triton the tests skip with that reason.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import pytest
import torch

HAS_TRITON = importlib.util.find_spec("triton") is not None
ON_GPU = torch.cuda.is_available()
DEVICE = torch.device("cuda" if ON_GPU else "cpu")

_KERNEL_MODULES = (
    "multilabel_ls.kernels._common",
    "multilabel_ls.kernels.sigmoid",
    "multilabel_ls.kernels.softmax",
)


def _import_kernels() -> None:
    for name in _KERNEL_MODULES:  # _common first: the others import its jit helpers
        if name in sys.modules:
            importlib.reload(sys.modules[name])
        else:
            importlib.import_module(name)


def _load_interpreted() -> str | None:
    """Import Triton and the kernels in interpreter mode; the reason if that is impossible."""
    if "triton" in sys.modules:
        import triton

        if triton.knobs.runtime.interpret:  # TRITON_INTERPRET=1 for the whole session
            _import_kernels()
            return None
        return "triton already imported in compiled mode"
    old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        # Triton's own jit functions (tl.sum, ...) must be built in the same mode as ours, so
        # Triton is first imported here; gluon is imported lazily at the first launch and
        # checks the mode then, so it is imported now too.
        import triton

        try:
            import triton.experimental.gluon
        except ImportError:  # older Triton: no gluon
            pass
        _import_kernels()
    finally:
        if old is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = old
    return None


#: How the kernel tests run in this process: "gpu" (compiled, CUDA tensors), "interpret"
#: (Triton's interpreter, CPU tensors), "subprocess" (Triton was already imported in compiled
#: mode without a GPU: ``test_subprocess.py`` re-runs this directory in a child process with
#: ``TRITON_INTERPRET=1``), or "skip" (no Triton).
MODE: str
SKIP_REASON: str | None = None
if not HAS_TRITON:
    MODE, SKIP_REASON = "skip", "the fused kernels need the triton package"
elif ON_GPU:
    MODE = "gpu"
    _import_kernels()
elif _load_interpreted() is None:
    MODE = "interpret"
else:
    MODE = "subprocess"
    SKIP_REASON = (
        "Triton was imported in compiled mode before tests/kernels could enable its CPU "
        "interpreter: test_subprocess.py runs these tests in a child process instead"
    )


def pytest_collection_modifyitems(config, items):
    """Tests of this directory: ``gpu`` ones skip without CUDA; all skip where they cannot run
    in this process (no Triton; or the "subprocess" mode, which runs them in a child)."""
    here = os.path.dirname(__file__)
    no_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if not str(item.path).startswith(here):
            continue
        if item.path.name == "test_subprocess.py":
            continue
        if SKIP_REASON is not None:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))
        elif "gpu" in item.keywords and not ON_GPU:
            item.add_marker(no_gpu)


@pytest.fixture
def device() -> torch.device:
    """Where the kernel tests put their tensors: CUDA if present, else the CPU interpreter."""
    return DEVICE


@pytest.fixture(autouse=True)
def _guard_absent_outputs(monkeypatch):
    """Absent pointer arguments get a large zero tensor that must stay zero: a kernel writing
    to an output it was not given (an out-of-bounds write on a GPU) fails the test."""
    if MODE not in ("gpu", "interpret"):
        yield
        return
    from multilabel_ls.kernels import _common

    made: list[torch.Tensor] = []

    def dummy(dtype, device):
        t = torch.zeros(1 << 16, dtype=dtype, device=device)
        made.append(t)
        return t

    monkeypatch.setattr(_common, "_dummy", dummy)
    yield
    for t in made:
        assert not t.any(), "a kernel wrote through a placeholder pointer"
