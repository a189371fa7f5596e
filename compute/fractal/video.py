"""Zoom movies: colour-index frames -> an MP4, GIF or WebP file, in memory.

A movie arrives as 2-D uint8 frames of colour indices (255 marks points inside the set)
and one ``(256, 4)`` RGBA lookup table from :func:`compute.colour.lookup_table`, shared by
every frame. :func:`encode` turns them into file bytes; :func:`probe` decodes such bytes
again and counts their frames, so tests (and callers) can check a movie with a real
decoder.

Encoding a few hundred frames takes seconds, so it must not run on an asyncio event
loop: call :func:`encode` through ``asyncio.to_thread``. Nothing here needs a loop. PyAV
18 releases the interpreter lock around ``avcodec_send_frame`` (the H.264 encoder, which
also encodes on libx264's own threads), ``sws_scale_frame`` (RGB -> YUV) and muxing.
What still holds the lock is the per-frame Python and NumPy work around those calls,
and, for GIF and WebP, Pillow's own per-frame Python. Measured with 60 frames of 512x512
on two cores: a pure-Python loop in another thread kept over 90 % of its solo speed
during an MP4 or WebP encode (75-95 % during a GIF one), and an event loop waking every
10 ms, with the encode in ``asyncio.to_thread``, woke at most about 7 ms late for MP4 and
WebP and 30 ms late for GIF.
"""

from __future__ import annotations

import io
import itertools
import math
import numbers
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image

FORMATS = ("mp4", "gif", "webp")
MEDIA_TYPES = {"mp4": "video/mp4", "gif": "image/gif", "webp": "image/webp"}

#: Highest frame rate accepted: more is no use for a zoom movie and bloats the file.
MAX_FPS = 120.0

#: H.264 encoders in order of preference, by FFmpeg name. PyAV's wheels ship libx264;
#: builds of FFmpeg without GPL parts may only have Cisco's libopenh264.
_H264_ENCODERS = ("libx264", "libopenh264")
#: libx264's constant-quality setting: 18 is visually lossless, 23 its default; fractal
#: detail is fine-grained, so stay near the lossless end.
_X264_CRF = 20
#: x264's "veryfast" preset: measured on 48 frames of 384x384 (bench/movie.py), about a
#: third of "medium"'s time for files of about the same size; encoding took longer than
#: rendering the movie on two workers.
_X264_PRESET = "veryfast"
#: libopenh264 has no constant-quality mode: a bit budget per pixel per frame instead.
_OPENH264_BITS_PER_PIXEL = 0.2

#: GIF stores frame delays in hundredths of a second (10 ms units), and browsers play
#: delays under 2 hundredths as 10 hundredths, so 20 ms is the shortest usable delay:
#: a GIF plays at most at 50 frames per second.
_GIF_TICK_MS = 10
_GIF_MIN_DELAY_MS = 20
#: The delay field is 16 bits of ticks.
_GIF_MAX_DELAY_MS = 65535 * _GIF_TICK_MS

_WEBP_QUALITY = 80


@dataclass(frozen=True)
class VideoInfo:
    """What a decoder finds in an encoded movie.

    Attributes
    ----------
    format : {"mp4", "gif", "webp"}
    codec : str
        ``"h264"`` for MP4 (the decoder's name); ``"gif"`` or ``"webp"`` otherwise.
    frames : int
        Frames actually decoded.
    width, height : int
        Frame size in pixels.
    fps : float
        Frames per second: the stream's average rate (MP4) or frames over the summed
        frame durations (GIF, WebP).
    """

    format: str
    codec: str
    frames: int
    width: int
    height: int
    fps: float


def encode(
    frames: Iterable[np.ndarray],
    table: np.ndarray,
    *,
    fps: float,
    format: str = "mp4",
    max_edge: int | None = None,
) -> bytes:
    """Encode colour-index frames as a movie file that loops (GIF, WebP) or plays (MP4).

    Parameters
    ----------
    frames : iterable of ndarray
        2-D uint8 colour indices, all of one shape. Consumed lazily, frame by frame; a
        generator is fine. MP4 holds one frame at a time; GIF and WebP hold every frame
        as 1-byte indices until the end, because Pillow writes them in one go.
    table : ndarray
        ``(256, 3)`` or ``(256, 4)`` uint8 lookup table; the first three columns are RGB.
        Alpha is ignored: none of the formats is encoded with transparency.
    fps : float
        Frames per second, in (0, 120]. GIF delays are whole hundredths of a second, so
        they vary by up to 10 ms frame to frame to keep the average rate; above 50 fps a
        GIF plays at 50 (see ``_GIF_MIN_DELAY_MS``).
    format : {"mp4", "gif", "webp"}
        ``mp4`` is H.264 in yuv420p with the index at the front (plays while it
        downloads); ``gif`` has the table's exact colours; ``webp`` is lossy at quality 80.
    max_edge : int, optional
        When a frame's longer side exceeds it, shrink every frame (nearest neighbour) so
        that the longer side is ``max_edge``.

    Returns
    -------
    bytes
        The whole file; ``MEDIA_TYPES[format]`` is its media type.

    Raises
    ------
    ValueError
        Unknown format, bad ``fps`` or ``max_edge``, a malformed table, no frames, a frame
        that is not 2-D uint8, or frames of differing shapes.
    RuntimeError
        MP4 only: the FFmpeg inside PyAV has no H.264 encoder.

    Notes
    -----
    GIF: Pillow merges consecutive identical frames into one longer frame, so
    :func:`probe` counts fewer frames for a movie that pauses.
    """
    if format not in FORMATS:
        raise ValueError(f"Unknown movie format {format!r}; choose one of {', '.join(FORMATS)}.")
    # ``not 0 < fps`` also rejects NaN, which compares false with everything.
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not 0 < fps <= MAX_FPS:
        raise ValueError(f"fps must be a number in (0, {MAX_FPS:g}]; got {fps!r}.")
    if max_edge is not None and (
        isinstance(max_edge, bool) or not isinstance(max_edge, numbers.Integral) or max_edge < 1
    ):
        raise ValueError(f"max_edge must be a positive integer or None; got {max_edge!r}.")
    rgb_table = _rgb_table(table)

    source = iter(frames)
    first = next(source, None)
    if first is None:
        raise ValueError("A movie needs at least one frame; got none.")
    first = _check_frame(first, None, 0)
    shape = first.shape
    indices = (
        _shrink(_check_frame(f, shape, i), max_edge)
        for i, f in enumerate(itertools.chain([first], source))
    )
    if format == "mp4":
        return _encode_mp4(indices, rgb_table, fps)
    if format == "gif":
        return _encode_gif(indices, rgb_table, fps)
    return _encode_webp(indices, rgb_table, fps)


def probe(data: bytes) -> VideoInfo:
    """Decode every frame of an encoded movie and describe it.

    The format is read from the file's signature, not trusted from elsewhere.

    Raises
    ------
    ValueError
        The bytes are none of MP4, GIF or WebP.
    """
    data = bytes(data)
    if data[4:8] == b"ftyp":
        return _probe_mp4(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return _probe_pillow(data, "gif")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _probe_pillow(data, "webp")
    raise ValueError("Not an MP4, GIF or WebP file (unrecognised signature).")


def _rgb_table(table: np.ndarray) -> np.ndarray:
    table = np.asarray(table)
    if table.dtype != np.uint8 or table.ndim != 2 or table.shape[0] != 256:
        raise ValueError(
            f"table must be a (256, 4) uint8 lookup table; got {table.dtype} {table.shape}."
        )
    if table.shape[1] not in (3, 4):
        raise ValueError(f"table must have 3 (RGB) or 4 (RGBA) columns; got {table.shape[1]}.")
    # Contiguous so that each frame's lookup is one gather over 3-byte rows.
    return np.ascontiguousarray(table[:, :3])


def _check_frame(frame: np.ndarray, shape: tuple[int, ...] | None, number: int) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 2:
        raise ValueError(
            f"Frame {number} must be a 2-D uint8 array of colour indices; "
            f"got {frame.dtype} with shape {frame.shape}."
        )
    if 0 in frame.shape:
        raise ValueError(f"Frame {number} is empty (shape {frame.shape}).")
    if shape is not None and frame.shape != shape:
        raise ValueError(
            f"All frames must share one shape: frame 0 is {shape}, frame {number} is "
            f"{frame.shape}."
        )
    return frame


def _shrink(indices: np.ndarray, max_edge: int | None) -> np.ndarray:
    height, width = indices.shape
    longer = max(height, width)
    if max_edge is None or longer <= max_edge:
        return indices
    scale = max_edge / longer
    new_height = max(1, round(height * scale))
    new_width = max(1, round(width * scale))
    # Nearest neighbour, sampling each output pixel's centre: indices are labels, and
    # averaging two of them would give an unrelated colour.
    rows = ((np.arange(new_height) + 0.5) * (height / new_height)).astype(np.intp)
    cols = ((np.arange(new_width) + 0.5) * (width / new_width)).astype(np.intp)
    return indices[rows[:, None], cols[None, :]]


def _frame_rate(fps: float) -> Fraction:
    # MP4 time bases are rationals; limiting the denominator to 1001 keeps NTSC rates
    # such as 30000/1001 exact instead of a float's 53-bit approximation. Rates below
    # 1/2002 fps would round to zero: a frame every 1001 s is slow enough.
    return Fraction(float(fps)).limit_denominator(1001) or Fraction(1, 1001)


def _h264_encoder() -> str:
    for name in _H264_ENCODERS:
        if name in av.codecs_available:
            return name
    raise RuntimeError(
        f"This PyAV build's FFmpeg has no H.264 encoder (looked for "
        f"{', '.join(_H264_ENCODERS)}); install a PyAV wheel that ships libx264, or "
        "choose gif or webp."
    )


def _encode_mp4(indices: Iterator[np.ndarray], rgb_table: np.ndarray, fps: float) -> bytes:
    encoder = _h264_encoder()
    rate = _frame_rate(fps)
    buffer = io.BytesIO()

    def reopen(url: str, flags: int, options: dict) -> io.BytesIO:
        # ``+faststart`` moves the index (moov) in front of the media data in a second
        # pass that reads the file back through a new handle. An in-memory buffer has no
        # path to reopen, so hand FFmpeg a snapshot of what it wrote: it only reads the
        # original bytes while shifting them, so the snapshot is exactly what it needs.
        return io.BytesIO(buffer.getvalue())

    first = next(indices)
    height, width = _even(first).shape
    with av.open(
        buffer, "w", format="mp4", options={"movflags": "+faststart"}, io_open=reopen
    ) as container:
        if encoder == "libx264":
            stream = container.add_stream(
                encoder, rate=rate, options={"crf": str(_X264_CRF), "preset": _X264_PRESET}
            )
        else:
            stream = container.add_stream(encoder, rate=rate)
            stream.codec_context.bit_rate = int(
                _OPENH264_BITS_PER_PIXEL * width * height * float(rate)
            )
        stream.width, stream.height = width, height
        # 4:2:0 is the only chroma layout every browser decodes.
        stream.pix_fmt = "yuv420p"
        # Tag the stream as BT.709 limited range, the conversion done below, so players
        # do not guess BT.601 and shift the colours.
        context = stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709
        context.color_range = 1  # MPEG (limited) range

        for number, frame_indices in enumerate(itertools.chain([first], indices)):
            rgb = np.take(rgb_table, _even(frame_indices), axis=0)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"
            )
            frame.pts = number
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))  # flush the frames the encoder still holds
    return buffer.getvalue()


def _even(indices: np.ndarray) -> np.ndarray:
    # yuv420p stores chroma per 2x2 block, so H.264 needs even sides. Pad by repeating the
    # last row or column rather than cropping it: every computed pixel stays in the movie,
    # and a repeated edge line cannot be told from its neighbour.
    height, width = indices.shape
    if height % 2 == 0 and width % 2 == 0:
        return indices
    return np.pad(indices, ((0, height % 2), (0, width % 2)), mode="edge")


def _palette_images(indices: Iterator[np.ndarray], rgb_table: np.ndarray) -> Iterator[Image.Image]:
    palette = rgb_table.tobytes()
    for frame_indices in indices:
        height, width = frame_indices.shape
        # Mode "P" with the table as palette: the indices are stored as they are, so the
        # colours are the table's exactly, with no quantisation.
        image = Image.frombytes("P", (width, height), np.ascontiguousarray(frame_indices))
        image.putpalette(palette, "RGB")
        yield image


def _gif_delays(fps: float) -> Iterator[int]:
    # Round the running end time of each frame to whole ticks and emit the differences,
    # so the delays alternate (e.g. 30, 40, 30 ms at 30 fps) and the average rate holds.
    frame_ms = 1000.0 / float(fps)
    previous = 0
    for number in itertools.count(1):
        end = round(number * frame_ms / _GIF_TICK_MS) * _GIF_TICK_MS
        delay = min(max(end - previous, _GIF_MIN_DELAY_MS), _GIF_MAX_DELAY_MS)
        previous += delay
        yield delay


def _encode_gif(indices: Iterator[np.ndarray], rgb_table: np.ndarray, fps: float) -> bytes:
    images = _palette_images(indices, rgb_table)

    def timed() -> Iterator[Image.Image]:
        # Each frame carries its own delay: the number of frames is not known up front.
        for image, delay in zip(images, _gif_delays(fps), strict=False):
            image.info["duration"] = delay
            yield image

    frames = timed()
    first = next(frames)
    buffer = io.BytesIO()
    # Pillow pulls the appended frames lazily but keeps every one (1 byte per pixel,
    # cropped to what changed) until it writes the file at the end.
    first.save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames,
        loop=0,  # forever
        interlace=False,  # interlacing only helps a still image that loads slowly
    )
    return buffer.getvalue()


def _encode_webp(indices: Iterator[np.ndarray], rgb_table: np.ndarray, fps: float) -> bytes:
    images = _palette_images(indices, rgb_table)
    first = next(images)
    buffer = io.BytesIO()
    # Pillow turns ``append_images`` into a list before it starts, so every frame is held
    # until the end; as palette images that is 1 byte per pixel, and Pillow expands each
    # to RGB only as it hands it to libwebp.
    first.save(
        buffer,
        format="WEBP",
        save_all=True,
        append_images=images,
        duration=1000.0 / float(fps),  # Pillow accumulates float durations and rounds timestamps
        loop=0,  # forever
        quality=_WEBP_QUALITY,
        lossless=False,
    )
    return buffer.getvalue()


def _probe_mp4(data: bytes) -> VideoInfo:
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        context = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            format="mp4",
            codec=context.name,
            frames=frames,
            width=context.width,
            height=context.height,
            fps=float(rate) if rate else math.nan,
        )


def _probe_pillow(data: bytes, format: str) -> VideoInfo:
    with Image.open(io.BytesIO(data)) as image:
        frames = 0
        total_ms = 0
        for number in range(image.n_frames):
            image.seek(number)
            image.load()  # decode the frame, not only its header
            frames += 1
            total_ms += image.info.get("duration", 0)
        width, height = image.size
    return VideoInfo(
        format=format,
        codec=format,
        frames=frames,
        width=width,
        height=height,
        fps=frames * 1000.0 / total_ms if total_ms else math.nan,
    )
