"""Optional fused Triton kernels for the quasimetric heads.

Triton is imported lazily: this package imports without triton, and
:func:`triton_available` says whether the fused path can be used. Kernels run on CUDA
tensors, or on CPU tensors when ``TRITON_INTERPRET=1`` was set before triton was imported.
"""

from __future__ import annotations

import functools
import os

import torch
from torch import Tensor


@functools.cache
def _triton_imports() -> bool:
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:  # ImportError, or a broken install raising on import
        return False
    return True


@torch.compiler.assume_constant_result
def triton_available() -> bool:
    """True when ``import triton`` works (asked once). A constant for ``torch.compile``: the
    heads ask it inside traced code, where tracing the cached call would warn at every
    compile."""
    return _triton_imports()


def interpreter_enabled() -> bool:
    """True when Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def check_dtype_and_device(x: Tensor, y: Tensor, supported: tuple, kernel: str) -> None:
    """Shared checks of the fused kernels' inputs: one supported dtype, one device, and CUDA
    (or CPU with Triton's interpreter). ``kernel`` names the kernel in the errors."""
    if x.dtype != y.dtype or x.dtype not in supported:
        raise ValueError(
            f"fused {kernel} needs x and y of one dtype among {supported}, got {x.dtype} "
            f"and {y.dtype}"
        )
    if x.device != y.device:
        raise ValueError(f"x and y are on different devices: {x.device} and {y.device}")
    if not x.is_cuda and not interpreter_enabled():
        raise ValueError(
            f"fused {kernel} runs on CUDA tensors (or CPU tensors with TRITON_INTERPRET=1 set "
            f"before importing triton); got device {x.device}"
        )


@functools.cache
def sm_count(device_index: int) -> int:
    """Streaming multiprocessors of a CUDA device (for choosing grid splits)."""
    import torch

    return torch.cuda.get_device_properties(device_index).multi_processor_count


def mrn_pairwise_fused(
    x: Tensor, y: Tensor, *, num_components: int, max_dim: int, eps: float = 1e-6, config=None
) -> Tensor:
    """Fused pairwise MRN, x [E, B, D], y [E, C, D] -> [E, B, C] (differentiable).

    ``max_dim`` is the number of dims per component in the max part (W/2 for "max+l2",
    W for "max"); ``config`` is an optional :class:`MRNKernelConfig`.
    """
    if not triton_available():
        raise RuntimeError("the fused MRN kernels need triton: pip install triton")
    from rllib_tmd.quasimetric.fused.mrn_triton import mrn_pairwise_triton

    return mrn_pairwise_triton(
        x, y, num_components=num_components, max_dim=max_dim, eps=eps, config=config
    )


def iqe_components_fused(x: Tensor, y: Tensor, *, num_components: int, config=None) -> Tensor:
    """Fused pairwise IQE component lengths, x [E, B, D], y [E, C, D] -> [E, B, C, K].

    Differentiable once (gradients of the rule in ``rllib_tmd.quasimetric.iqe.union_lengths``);
    ``config`` is an optional :class:`IQEKernelConfig`.
    """
    if not triton_available():
        raise RuntimeError("the fused IQE kernels need triton: pip install triton")
    from rllib_tmd.quasimetric.fused.iqe_triton import iqe_components_triton

    return iqe_components_triton(x, y, num_components=num_components, config=config)
