"""Clips of agents playing: label frames, tile clips side by side, write a GIF or an MP4.

Frames come from :func:`rlkit.evaluation.evaluate` with ``record_frames=N`` (``EvalResult.frames``:
one list of colour frames per episode) or any list of images. They are shown to people in colour
even when the agent sees grayscale: a gray frame becomes RGB here, never the other way::

    from rlkit.ui import media

    clip = media.tile([media.label(ev.frames[0], "ONNX player", score=ev.scores[0]),
                       media.label(rnd.frames[0], "random", score=rnd.scores[0])])
    media.show_clip(media.write_gif(clip, "runs/clips/onnx_vs_random.gif", fps=35 / 12))

GIFs are written with Pillow (one palette for the whole clip, no dithering, looping) and kept
under :data:`MAX_BYTES`: frames wider than ``max_width`` are downscaled first, and a clip that is
still too large is downscaled further, then thinned, until it fits. MP4 needs the optional
packages ``imageio`` and ``imageio-ffmpeg`` (:func:`mp4_available`).
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rlkit.ui.frontend import kernel_shell

__all__ = [
    "DEFAULT_MAX_WIDTH",
    "MAX_BYTES",
    "ClipFile",
    "as_rgb",
    "downscale",
    "encode_gif",
    "label",
    "mp4_available",
    "show_clip",
    "tile",
    "write_gif",
    "write_mp4",
]

# Two 160-pixel clips side by side, or one 320×240 engine screen, keep their size; a wider clip
# is shrunk (and a long one further, see encode_gif) so that it stays light in a notebook.
DEFAULT_MAX_WIDTH = 480
MAX_BYTES = 5_000_000
# GIF delays are whole hundredths of a second, and browsers slow delays under 20 ms to 100 ms.
_GIF_TICK_MS, _GIF_MIN_DELAY_MS = 10, 20
_BOX = (16, 16, 16)  # the dark box behind text: readable on any Doom wall
_TEXT = (255, 255, 255)


class ClipFile(NamedTuple):
    """A clip written to disk: ``path, size_bytes = write_gif(...)``."""

    path: Path
    size_bytes: int


def as_rgb(frame: Any) -> np.ndarray:
    """One frame as ``(H, W, 3) uint8`` colour.

    :param frame: ``(H, W)`` or ``(H, W, 1)`` gray, ``(C, H, W)`` stacked gray (the newest, last
        frame is used), ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA; floats are read in ``[0, 1]``.
    """
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating):
            a = np.clip(a * 255.0 + 0.5, 0, 255)
        a = np.clip(a, 0, 255).astype(np.uint8)
    # (H, W, 3) colour unless the first axis is short enough to be a frame stack, (C, H, W).
    if a.ndim == 3 and a.shape[-1] in (3, 4) and a.shape[0] > 4:
        return np.ascontiguousarray(a[..., :3])
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    elif a.ndim == 3:
        a = a[-1]  # (C, H, W) frame stack: the newest frame is last
    if a.ndim != 2:
        raise ValueError(f"a frame must be (H, W), (C, H, W) or (H, W, 3), got shape {a.shape}")
    return np.repeat(a[:, :, None], 3, axis=2)


def _frames(frames: Any, what: str = "frames") -> list[np.ndarray]:
    items = [as_rgb(f) for f in frames]
    if not items:
        raise ValueError(f"{what} is empty: record frames with evaluate(..., record_frames=1)")
    shape = items[0].shape
    if any(f.shape != shape for f in items):
        raise ValueError(f"all {what} must have one size; got {sorted({f.shape for f in items})}")
    return items


def _font(height: int) -> Any:
    from PIL import ImageFont

    size = max(9, round(height / 14))
    try:
        return ImageFont.load_default(size=size)  # scalable, where Pillow has FreeType
    except (TypeError, ValueError, OSError, ImportError):
        return ImageFont.load_default()


def label(
    frames: Any,
    text: str,
    *,
    score: float | Sequence[float] | None = None,
    corner: str = "top-left",
) -> list[np.ndarray]:
    """Write ``text`` (and a score) on every frame, white on a dark box.

    :param frames: the clip, one frame after another.
    :param text: e.g. the player's name.
    :param score: one number for the whole clip (e.g. the episode's score) or one per frame (a
        running score); ``None`` writes no score.
    :param corner: ``"top-left"`` or ``"bottom-left"``.
    :return: new RGB frames (the input is not changed).
    """
    from PIL import Image, ImageDraw

    items = _frames(frames)
    if corner not in ("top-left", "bottom-left"):
        raise ValueError(f"corner must be 'top-left' or 'bottom-left', got {corner!r}")
    if score is None or np.ndim(score) == 0:
        scores = [score] * len(items)
    else:
        scores = list(score)  # type: ignore[arg-type]
        if len(scores) != len(items):
            raise ValueError(f"got {len(scores)} scores for {len(items)} frames")
    h, w = items[0].shape[:2]
    font, pad = _font(h), max(2, h // 60)
    out = []
    for frame, s in zip(items, scores, strict=True):
        line = text if s is None else f"{text}  score {float(s):.0f}"
        img = Image.fromarray(frame)
        draw = ImageDraw.Draw(img)
        x0, y0, x1, y1 = draw.textbbox((0, 0), line, font=font)
        y = pad if corner == "top-left" else h - (y1 - y0) - 3 * pad
        box = (0, y, min(w, x1 - x0 + 3 * pad), y + (y1 - y0) + 2 * pad)
        draw.rectangle(box, fill=_BOX)
        draw.text((pad - x0, y + pad - y0), line, fill=_TEXT, font=font)
        out.append(np.asarray(img))
    return out


def tile(
    clips: Sequence[Any], labels: Sequence[str] | None = None, *, gap: int = 4
) -> list[np.ndarray]:
    """Clips side by side, as one clip as long as the longest.

    A shorter clip holds its last frame until the longest ends; a lower one is padded below
    with black.

    :param clips: two or more clips (each a list of frames); one is returned as it is.
    :param labels: one text per clip, written with :func:`label`; ``None`` writes none.
    :param gap: black pixels between clips.
    :return: frames ``sum(widths) + gap * (len(clips) - 1)`` wide and as high as the highest.
    """
    if isinstance(clips, np.ndarray) and clips.ndim <= 4:
        clips = [clips]  # one clip given as an array, not a list of clips
    items = [_frames(c, f"clip {i}") for i, c in enumerate(clips)]
    if not items:
        raise ValueError("clips is empty")
    if labels is not None:
        if len(labels) != len(items):
            raise ValueError(f"got {len(labels)} labels for {len(items)} clips")
        items = [label(c, t) for c, t in zip(items, labels, strict=True)]
    if not isinstance(gap, int) or gap < 0:
        raise ValueError(f"gap must be an integer ≥ 0, got {gap!r}")
    n = max(len(c) for c in items)
    height = max(c[0].shape[0] for c in items)
    width = sum(c[0].shape[1] for c in items) + gap * (len(items) - 1)
    out = []
    for t in range(n):
        canvas = np.zeros((height, width, 3), dtype=np.uint8)
        x = 0
        for c in items:
            f = c[min(t, len(c) - 1)]
            canvas[: f.shape[0], x : x + f.shape[1]] = f
            x += f.shape[1] + gap
        out.append(canvas)
    return out


def downscale(frames: Any, max_width: int = DEFAULT_MAX_WIDTH) -> list[np.ndarray]:
    """Shrink frames wider than ``max_width``, keeping the aspect ratio (never enlarges).

    :param frames: the clip.
    :param max_width: the widest frame wanted, in pixels.
    :return: RGB frames at most ``max_width`` wide.
    """
    from PIL import Image

    if not isinstance(max_width, int) or max_width < 8:
        raise ValueError(f"max_width must be an integer ≥ 8, got {max_width!r}")
    items = _frames(frames)
    h, w = items[0].shape[:2]
    if w <= max_width:
        return items
    size = (max_width, max(1, round(h * max_width / w)))
    # BOX averages the pixels each output pixel covers: sharp text, no aliasing, and fast.
    return [np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BOX)) for f in items]


def _delays(n: int, fps: float) -> list[int]:
    """Per-frame delays in ms, whole GIF ticks, whose running sum tracks ``i / fps``."""
    ends = [round((i + 1) * 1000.0 / fps / _GIF_TICK_MS) * _GIF_TICK_MS for i in range(n)]
    return [b - a for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def _check_fps(fps: float) -> float:
    if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def _gif_bytes(items: list[np.ndarray], fps: float) -> bytes:
    from PIL import Image

    step = max(1, math.ceil(fps * _GIF_MIN_DELAY_MS / 1000.0))  # faster than GIFs play: thin
    items, fps = items[::step], fps / step
    # One palette from frames spread over the clip: colours do not flicker from frame to frame.
    sample = items[:: max(1, len(items) // 16)][:16]
    palette = Image.fromarray(np.concatenate(sample, axis=0)).quantize(
        256, method=Image.Quantize.MEDIANCUT
    )
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in items]
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=_delays(len(images), fps),
        loop=0,
        optimize=True,
        disposal=1,  # keep each frame: the next one stores only the region that changed
    )
    return buf.getvalue()


def encode_gif(
    frames: Any,
    fps: float = 35.0,
    *,
    max_width: int = DEFAULT_MAX_WIDTH,
    max_bytes: int = MAX_BYTES,
) -> bytes:
    """A looping GIF of ``frames``, in memory, under ``max_bytes``.

    Frames wider than ``max_width`` are downscaled. If the GIF is still larger than
    ``max_bytes``, it is encoded again smaller (to the width the size suggests), and after three
    tries every other frame is dropped (each kept frame shows twice as long, so the clip keeps
    its duration). Identical consecutive frames are merged into one longer frame.

    :param frames: the clip (gray frames become RGB).
    :param fps: frames per second of the clip (Doom's real time is ``35 / frame_skip``).
    :param max_width: downscale wider frames to this width.
    :param max_bytes: the most bytes the GIF may take.
    :return: the GIF file's bytes.
    """
    fps = _check_fps(fps)
    items = downscale(frames, max_width)
    if len(items) > 64:
        # Guess the size from 16 frames spread over the clip (an overestimate: they share less
        # than neighbours do) and shrink once before the full encode, instead of after it.
        sample = items[:: len(items) // 16][:16]
        guess = len(_gif_bytes(sample, fps)) * len(items) / len(sample)
        if guess > max_bytes:
            w = items[0].shape[1]
            items = downscale(items, max(16, int(w * math.sqrt(0.85 * max_bytes / guess))))
    while True:
        for _ in range(3):
            data = _gif_bytes(items, fps)
            if len(data) <= max_bytes:
                return data
            w = items[0].shape[1]
            # Size goes roughly with the pixel count; aim a little under the limit.
            smaller = int(w * math.sqrt(0.85 * max_bytes / len(data)))
            if smaller < 16:
                break
            items = downscale(items, max(16, min(smaller, w - 1)))
        if len(items) < 2:
            raise ValueError(f"cannot fit these frames in a GIF under {max_bytes:,} bytes")
        items, fps = items[::2], fps / 2


def write_gif(
    frames: Any,
    path: str | os.PathLike,
    fps: float = 35.0,
    *,
    max_width: int = DEFAULT_MAX_WIDTH,
    max_bytes: int = MAX_BYTES,
) -> ClipFile:
    """Write ``frames`` as a looping GIF, atomically (see :func:`encode_gif` for the size rules).

    :param frames: the clip.
    :param path: the ``.gif`` file (its folder is created).
    :param fps: frames per second.
    :param max_width: downscale wider frames to this width.
    :param max_bytes: the most bytes the file may take.
    :return: ``(path, size_bytes)``.
    """
    from rlkit.atomic import write_bytes

    data = encode_gif(frames, fps, max_width=max_width, max_bytes=max_bytes)
    return ClipFile(write_bytes(path, data), len(data))


def mp4_available() -> bool:
    """Whether :func:`write_mp4` can run here (``imageio`` with ``imageio-ffmpeg``)."""
    try:
        import imageio.v2  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def write_mp4(
    frames: Any,
    path: str | os.PathLike,
    fps: float = 35.0,
    *,
    max_width: int = 640,
    quality: int = 7,
) -> ClipFile:
    """Write ``frames`` as an H.264 MP4, atomically (needs ``imageio`` and ``imageio-ffmpeg``).

    :param frames: the clip.
    :param path: the ``.mp4`` file (its folder is created).
    :param fps: frames per second.
    :param max_width: downscale wider frames to this width.
    :param quality: imageio's quality, 0 (smallest) to 10 (best).
    :return: ``(path, size_bytes)``.
    :raises ImportError: naming the packages to install, when they are missing.
    """
    if not mp4_available():
        raise ImportError(
            "writing MP4 needs imageio and imageio-ffmpeg: pip install imageio imageio-ffmpeg "
            "(or write a GIF with write_gif, which needs only Pillow)"
        )
    import imageio.v2 as imageio

    from rlkit.atomic import write_bytes

    fps = _check_fps(fps)
    items = downscale(frames, max_width)
    h, w = items[0].shape[:2]
    # H.264 in yuv420p needs even sides: drop an odd last row or column rather than resample.
    items = [f[: h - h % 2, : w - w % 2] for f in items]
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = os.path.join(tmp, "clip.mp4")
        with imageio.get_writer(
            tmp_path, fps=fps, codec="libx264", quality=quality, macro_block_size=2
        ) as writer:
            for f in items:
                writer.append_data(f)
        data = Path(tmp_path).read_bytes()
    return ClipFile(write_bytes(path, data), len(data))


def show_clip(clip: Any, *, width: int | None = None, fps: float = 35.0) -> None:
    """Show a clip inline in a notebook; elsewhere print where it is (or do nothing).

    :param clip: a GIF or MP4 path, a :class:`ClipFile`, or frames (encoded as a GIF in memory).
    :param width: display width in pixels (the browser scales; the file is unchanged).
    :param fps: frames per second, when frames are given.
    """
    if isinstance(clip, ClipFile):
        clip = clip.path
    is_path = isinstance(clip, str | os.PathLike)
    if not kernel_shell() is not None:
        if is_path:
            print(f"clip: {clip}")
        return
    from IPython.display import Image, Video, display

    if is_path and Path(clip).suffix.lower() == ".mp4":
        display(Video(str(clip), embed=True, width=width))
        return
    data = Path(clip).read_bytes() if is_path else encode_gif(clip, fps)
    display(Image(data=data, format="gif", width=width))
