"""Run the kernel tests in a child process with ``TRITON_INTERPRET=1`` when this process cannot.

Triton chooses between compiling and interpreting when its modules are imported; if another
test module imported Triton (in compiled mode) before ``tests/kernels`` could enable the
interpreter, and there is no GPU, this test runs the whole directory in a fresh interpreter
process instead (see ``conftest.py``). Otherwise it skips: the tests ran in this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import MODE

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.mark.skipif(MODE != "subprocess", reason=f"the kernel tests run in this process ({MODE})")
def test_kernel_suite_in_an_interpreter_subprocess():
    env = dict(os.environ, TRITON_INTERPRET="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE),
           "--deselect", f"{HERE / 'test_subprocess.py'}"]  # fmt: skip
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    tail = (res.stdout + res.stderr)[-6000:]
    assert res.returncode == 0, tail
    assert " passed" in tail and "Triton was imported in compiled mode" not in tail, tail
