"""Clips: labels, tiling, downscaling, GIF files read back with Pillow, the size limit."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rlkit.ui import media


def _clip(n: int, h: int = 60, w: int = 80, seed: int = 0) -> list[np.ndarray]:
    """``n`` distinct colour frames: a gradient that moves, so no two frames are equal."""
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(n):
        f = np.empty((h, w, 3), dtype=np.uint8)
        f[..., 0] = (xx * 255 // w + 7 * t) % 256
        f[..., 1] = yy * 255 // h
        f[..., 2] = ((xx + yy + 3 * t) // 6 % 2) * 180 + seed
        frames.append(f)
    return frames


def test_gray_frames_become_rgb():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for frame in (gray, gray[None], gray[:, :, None], np.stack([gray * 0, gray])):
        rgb = media.as_rgb(frame)
        assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
        assert (rgb == gray[:, :, None]).all()
    assert media.as_rgb(np.full((2, 2), 1.0)).max() == 255  # floats are read in [0, 1]
    with pytest.raises(ValueError, match="frame must be"):
        media.as_rgb(np.zeros(5))


def test_written_gif_has_the_frames_size_and_timing(tmp_path):
    frames = _clip(12)
    path, size = media.write_gif(frames, tmp_path / "sub" / "clip.gif", fps=10)
    assert path.exists() and size == path.stat().st_size > 0
    assert not list(path.parent.glob(".*.tmp"))  # written atomically: no temporary left
    with Image.open(path) as im:
        assert im.format == "GIF" and im.size == (80, 60)
        assert im.n_frames == 12 and im.info.get("loop") == 0
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
        im.seek(5)
        back = np.asarray(im.convert("RGB"), dtype=np.int16)
    assert durations == [100] * 12
    assert np.abs(back - frames[5]).mean() < 12  # one shared palette: close to the original


def test_gif_delays_keep_the_clip_duration_at_35_fps():
    delays = media._delays(35, 35.0)
    assert sum(delays) == 1000 and min(delays) >= 20
    assert all(d % 10 == 0 for d in delays)


def test_gray_clip_is_written_in_colour_mode(tmp_path):
    gray = [np.full((20, 30), v, dtype=np.uint8) for v in (0, 80, 160)]
    path, _ = media.write_gif(gray, tmp_path / "gray.gif", fps=5)
    with Image.open(path) as im:
        im.seek(1)
        assert np.asarray(im.convert("RGB")).shape == (20, 30, 3)


def test_label_changes_pixels_where_it_draws_only():
    frames = _clip(3, h=120, w=160)
    out = media.label(frames, "ONNX player", score=[0, 5, 83])
    assert len(out) == 3 and out[0].shape == frames[0].shape
    changed = np.any(out[0] != frames[0], axis=2)
    rows, cols = np.nonzero(changed)
    assert changed.sum() > 100
    assert rows.max() < 120 // 3 and cols.max() < 160  # a box in the top band
    assert (out[0][60:] == frames[0][60:]).all()  # the rest of the frame is untouched
    assert not np.array_equal(out[0], out[2])  # the running score differs
    low = media.label(frames, "x", corner="bottom-left")
    assert (low[0][:60] == frames[0][:60]).all()
    with pytest.raises(ValueError, match="3 frames"):
        media.label(frames, "x", score=[1, 2])


def test_tile_widths_padding_and_labels():
    a, b = _clip(5, 60, 80), _clip(2, 40, 50, seed=20)
    out = media.tile([a, b], gap=4)
    assert len(out) == 5
    assert out[0].shape == (60, 80 + 4 + 50, 3)
    assert (out[4][:40, 84:] == b[-1]).all()  # the shorter clip holds its last frame
    assert (out[0][40:, 84:] == 0).all()  # the lower clip is padded below
    assert (out[2][:, :80] == a[2]).all()
    labelled = media.tile([a, b], labels=["agent", "random"])
    assert not np.array_equal(labelled[0][:20, :80], out[0][:20, :80])
    with pytest.raises(ValueError, match="2 clips"):
        media.tile([a, b], labels=["one"])


def test_downscale_keeps_aspect_and_never_enlarges():
    frames = _clip(2, 240, 320)
    small = media.downscale(frames, 160)
    assert small[0].shape == (120, 160, 3)
    assert media.downscale(frames, 640)[0].shape == (240, 320, 3)


@pytest.mark.slow
def test_ten_second_clip_stays_under_5_mb(tmp_path):
    """10 s at 35 fps, 320×240, with texture noise that GIF compresses badly."""
    rng = np.random.default_rng(0)
    frames = [
        np.clip(f.astype(np.int16) + rng.integers(0, 40, size=(240, 320, 1)), 0, 255).astype(
            np.uint8
        )
        for f in _clip(350, 240, 320)
    ]
    path, size = media.write_gif(frames, tmp_path / "long.gif", fps=35)
    assert size < media.MAX_BYTES
    with Image.open(path) as im:
        assert im.size[0] <= media.DEFAULT_MAX_WIDTH
        total = 0
        for i in range(im.n_frames):
            im.seek(i)
            total += im.info["duration"]
    assert total == pytest.approx(10_000, abs=100)  # shrunk or thinned, never shortened


def test_mp4_needs_its_packages_or_writes_a_file(tmp_path):
    frames = _clip(10, 61, 81)  # odd sides: H.264 needs even ones
    if not media.mp4_available():
        with pytest.raises(ImportError, match="imageio-ffmpeg"):
            media.write_mp4(frames, tmp_path / "c.mp4")
        return
    path, size = media.write_mp4(frames, tmp_path / "c.mp4", fps=10)
    assert size > 0 and path.read_bytes()[4:8] == b"ftyp"


def test_show_clip_outside_a_notebook_only_prints(tmp_path, capsys):
    path, _ = media.write_gif(_clip(2), tmp_path / "c.gif", fps=5)
    media.show_clip(path)
    media.show_clip(_clip(2))
    assert capsys.readouterr().out.strip() == f"clip: {path}"
