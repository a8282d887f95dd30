"""Figures are written as palette PNGs: the same picture, a fraction of the bytes."""

import io

import numpy as np
from PIL import Image

from rllib_tmd.figures import main, palette_png, pyplot, save_png


def heat_map_figure():
    """A figure like the maze maps: a colour-mapped field, a line and text."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 3))
    field = np.add.outer(np.linspace(0, 1, 60), np.linspace(0, 2, 80))
    ax.imshow(field, cmap="viridis")
    ax.plot([5, 70], [5, 50], color="red")
    ax.set_title("learned d(s, g)")
    return fig


def rgba_png(fig) -> bytes:
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=100)
    return raw.getvalue()


def test_save_png_writes_a_smaller_palette_png_of_the_same_picture(tmp_path):
    fig = heat_map_figure()
    reference = rgba_png(fig)
    path = save_png(fig, tmp_path / "plots" / "map.png", dpi=100)

    assert path == tmp_path / "plots" / "map.png"
    assert path.stat().st_size < len(reference) / 2
    saved, original = Image.open(path), Image.open(io.BytesIO(reference))
    assert saved.mode == "P" and saved.size == original.size
    diff = np.abs(
        np.asarray(saved.convert("RGB"), dtype=int) - np.asarray(original.convert("RGB"), dtype=int)
    )
    assert diff.mean() < 2 and np.percentile(diff, 99) <= 16  # 256 colours suffice for a plot
    assert not pyplot().fignum_exists(fig.number)  # closed


def png_bytes(image: Image.Image) -> bytes:
    raw = io.BytesIO()
    image.save(raw, format="PNG")
    return raw.getvalue()


def test_transparent_pixels_become_white():
    png = palette_png(png_bytes(Image.new("RGBA", (200, 100), (0, 0, 0, 0))))
    assert Image.open(io.BytesIO(png)).convert("RGB").getpixel((10, 10)) == (255, 255, 255)


def test_a_png_that_would_not_shrink_is_returned_unchanged():
    tiny = png_bytes(Image.new("L", (1, 1), 7))  # grey, 1 pixel: a palette adds bytes
    assert palette_png(tiny) is tiny


def test_main_rewrites_files_in_place(tmp_path, capsys):
    path = tmp_path / "old.png"
    path.write_bytes(rgba_png(heat_map_figure()))
    before = path.stat().st_size

    main([str(path)])

    assert path.stat().st_size < before
    assert Image.open(path).mode == "P"
    assert "1 PNG files" in capsys.readouterr().out
