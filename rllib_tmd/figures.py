"""Plots written small: every figure of the package and its benchmarks goes through here.

Matplotlib's PNGs are 32-bit RGBA; a line plot or a heat map drawn from one colour map needs
far fewer than 256 colours, so :func:`save_png` stores a palette PNG instead, about a third of
the size. That keeps results folders small enough to travel with a checkout.

Recompress PNGs written before (in place, each only where that makes it smaller)::

    python -m rllib_tmd.figures benchmarks/results/*/*.png
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

PALETTE_COLOURS = 256


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def palette_png(png: bytes) -> bytes:
    """The image ``png`` (PNG bytes) as a palette PNG of at most 256 colours, drawn on white
    where it is transparent; ``png`` itself where that is not smaller."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGBA")
    opaque = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("RGB")
    palette = opaque.quantize(
        colors=PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(png) else png


def save_png(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Writes the matplotlib figure ``fig`` to ``path`` as a palette PNG, closes it, returns
    the path (its folder is created)."""
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=dpi)
    pyplot().close(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(palette_png(raw.getvalue()))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Rewrite PNG files as palette PNGs, in place, where that makes them smaller."
    )
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    before = after = 0
    for file in args.files:
        png = file.read_bytes()
        smaller = palette_png(png)
        if smaller is not png:
            file.write_bytes(smaller)
        before, after = before + len(png), after + len(smaller)
    print(f"{len(args.files)} PNG files: {before / 2**20:.2f} MiB -> {after / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
