"""Group a ``benchmarks/profile_update.py`` kernel table by kind, per update.

    python benchmarks/kernel_census.py prof_b512.txt [prof_b256.txt ...] [--updates 20]

Reads the profiler tables that ``profile_update.py --out`` writes (one row per kernel name:
total CUDA time and launches over ``--updates`` updates) and prints, per file, a Markdown
table: GEMMs, our MRN kernels, Inductor-generated kernels, Adam, other ATen reductions and
other ATen kernels (elementwise, copies, indexing, LayerNorm): microseconds and launches per
update, and the share of the kernel time.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6}
KINDS = (  # (kind, test on the kernel name), first match wins
    ("GEMM (cuBLAS/CUTLASS, TF32)", lambda n: any(k in n for k in ("gemm", "xmma", "splitK"))),
    ("MRN pairwise kernels (Triton, ours)", lambda n: "_mrn_" in n),
    ("Inductor-generated (LayerNorm/GELU, losses, sums)", lambda n: n.startswith("triton_")),
    ("Adam (fused multi-tensor)", lambda n: "multi_tensor" in n),
    ("ATen reductions", lambda n: "reduce_kernel" in n),
)
OTHER = "ATen elementwise / copies / indexing / LayerNorm"


def microseconds(text: str) -> float:
    """``"3.441ms"`` -> 3441.0."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"not a profiler time: {text!r}")
    return float(match[1]) * UNITS_US[match[2]]


def kind_of(name: str) -> str:
    return next((kind for kind, test in KINDS if test(name)), OTHER)


def census(path: Path, updates: int) -> dict[str, tuple[float, float]]:
    """``{kind: (µs per update, launches per update)}`` from one profiler table."""
    kinds: dict[str, tuple[float, float]] = {}
    for line in path.read_text().splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) < 11 or not cells[-1].isdigit():
            continue
        name, total, calls = cells[0], microseconds(cells[-3]), int(cells[-1])
        if total == 0:  # host-side rows (cudaLaunchKernel, ...)
            continue
        us, launches = kinds.get(kind_of(name), (0.0, 0.0))
        kinds[kind_of(name)] = (us + total / updates, launches + calls / updates)
    return kinds


def markdown(kinds: dict[str, tuple[float, float]]) -> str:
    total = sum(us for us, _ in kinds.values())
    lines = ["| kernel kind | µs per update | share | launches per update |", "|---|---|---|---|"]
    for kind, (us, launches) in sorted(kinds.items(), key=lambda item: -item[1][0]):
        lines.append(f"| {kind} | {us:.0f} | {100 * us / total:.0f} % | {launches:.0f} |")
    launches = sum(n for _, n in kinds.values())
    lines.append(f"| **all kernels** | **{total:.0f}** | | **{launches:.0f}** |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("tables", nargs="+", type=Path)
    p.add_argument("--updates", type=int, default=20, help="updates the profile covered")
    args = p.parse_args()
    for path in args.tables:
        header = path.read_text().splitlines()[0].strip()
        print(f"### {path.name}: {header}\n\n{markdown(census(path, args.updates))}\n")


if __name__ == "__main__":
    main()
