"""Fixtures for the quasimetric tests.

Without a GPU the fused Triton kernels run in Triton's CPU interpreter. The interpreter is
chosen when a kernel is decorated with ``@triton.jit``, so the variable is set here, before any
test module imports ``rllib_tmd.quasimetric.fused.mrn_triton``.
"""

from __future__ import annotations

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(scope="session")
def kernel_device() -> str:
    """Device for fused-kernel tests: CUDA when present, else CPU through the interpreter."""
    return "cuda" if torch.cuda.is_available() else "cpu"
