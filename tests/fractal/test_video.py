"""Zoom movies: encoding colour-index frames as MP4, GIF and WebP, checked by decoding."""

from __future__ import annotations

import asyncio
import io
import math

import av
import numpy as np
import pytest
from PIL import Image

from compute.colour import INSIDE, lookup_table
from compute.video import FORMATS, MEDIA_TYPES, VideoInfo, encode, probe

TABLE = lookup_table("fire")
FPS = 24


def movie(count: int = 12, height: int = 64, width: int = 96):
    """A generator of frames: diagonal bands that drift, with an "inside" disc."""
    y, x = np.mgrid[0:height, 0:width]
    disc = (y - height / 2) ** 2 + (x - width / 2) ** 2 < (min(height, width) / 5) ** 2
    for number in range(count):
        indices = ((x + y + 3 * number) % 255).astype(np.uint8)
        indices[disc] = INSIDE
        yield indices


def decoded_rgb(data: bytes) -> list[np.ndarray]:
    """Every frame as RGB, decoded by the format's own decoder."""
    if data[4:8] == b"ftyp":
        with av.open(io.BytesIO(data)) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with Image.open(io.BytesIO(data)) as image:
        frames = []
        for number in range(image.n_frames):
            image.seek(number)
            frames.append(np.asarray(image.convert("RGB")))
        return frames


def test_constants():
    assert FORMATS == ("mp4", "gif", "webp")
    assert MEDIA_TYPES == {"mp4": "video/mp4", "gif": "image/gif", "webp": "image/webp"}


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize(("height", "width"), [(64, 96), (63, 95)])
def test_encode_then_probe(format, height, width):
    data = encode(movie(12, height, width), TABLE, fps=FPS, format=format)
    info = probe(data)
    if format == "mp4":
        # H.264 in yuv420p needs even sides: odd ones gain a repeated edge line.
        height, width = height + height % 2, width + width % 2
    codec = {"mp4": "h264", "gif": "gif", "webp": "webp"}[format]
    assert info == VideoInfo(format, codec, 12, width, height, pytest.approx(FPS, abs=0.01))


def test_mp4_plays_while_it_downloads():
    data = encode(movie(), TABLE, fps=FPS)
    # +faststart: the index (moov box) comes before the media data (mdat box).
    assert 0 < data.find(b"moov") < data.find(b"mdat")


def test_mp4_colours_are_close_to_the_table():
    frames = list(movie())
    decoded = decoded_rgb(encode(iter(frames), TABLE, fps=FPS))
    assert len(decoded) == len(frames)
    for indices, rgb in zip(frames, decoded, strict=True):
        error = np.abs(rgb.astype(int) - TABLE[indices, :3].astype(int))
        # Lossy, and chroma is halved in each direction: close on average, not exact (about
        # 1.5 levels). Decoding these frames as BT.601 instead of the tagged BT.709 gives
        # about 6.6, so this also checks that the tags match the conversion.
        assert error.mean() < 3


def test_webp_colours_are_close_to_the_table():
    frames = list(movie())
    decoded = decoded_rgb(encode(iter(frames), TABLE, fps=FPS, format="webp"))
    assert len(decoded) == len(frames)
    for indices, rgb in zip(frames, decoded, strict=True):
        assert np.abs(rgb.astype(int) - TABLE[indices, :3].astype(int)).mean() < 4


def test_gif_colours_are_the_tables_exactly():
    frames = list(movie(12, 63, 95))
    decoded = decoded_rgb(encode(iter(frames), TABLE, fps=FPS, format="gif"))
    assert len(decoded) == len(frames)
    for indices, rgb in zip(frames, decoded, strict=True):
        np.testing.assert_array_equal(rgb, TABLE[indices, :3])
    # One pixel, spelled out: the inside colour at the disc's centre.
    assert tuple(decoded[0][31, 47]) == tuple(TABLE[INSIDE, :3])


def test_gif_delays_keep_the_average_rate():
    # 1000 / 24 ms is no whole number of hundredths: the delays alternate (40, 40, 50 ms)
    data = encode(movie(), TABLE, fps=FPS, format="gif")
    with Image.open(io.BytesIO(data)) as image:
        delays = []
        for number in range(image.n_frames):
            image.seek(number)
            delays.append(image.info["duration"])
    assert all(d % 10 == 0 for d in delays)
    assert set(delays) == {40, 50}
    assert sum(delays) == 500


def test_gif_plays_at_most_at_50_fps():
    # Browsers play delays under 20 ms as 100 ms, so faster movies are slowed to 50 fps.
    assert probe(encode(movie(), TABLE, fps=60, format="gif")).fps == pytest.approx(50)


def test_fractional_fps_is_kept():
    assert probe(encode(movie(), TABLE, fps=30000 / 1001)).fps == pytest.approx(29.97, abs=1e-3)


def test_animations_loop_forever():
    for format in ("gif", "webp"):
        with Image.open(io.BytesIO(encode(movie(), TABLE, fps=FPS, format=format))) as image:
            assert image.info["loop"] == 0, format


@pytest.mark.parametrize("format", FORMATS)
def test_one_frame(format):
    info = probe(encode(movie(1), TABLE, fps=FPS, format=format))
    assert (info.frames, info.width, info.height) == (1, 96, 64)


@pytest.mark.parametrize(
    ("format", "max_edge", "size"),
    [
        ("gif", 48, (48, 32)),
        ("webp", 48, (48, 32)),
        # 95x63 shrinks to 48x32 (63 * 48 / 95 = 31.8, rounded), already even.
        ("mp4", 48, (48, 32)),
        # A frame that already fits is left alone.
        ("gif", 96, (95, 63)),
        ("gif", None, (95, 63)),
    ],
)
def test_max_edge(format, max_edge, size):
    info = probe(encode(movie(4, 63, 95), TABLE, fps=FPS, format=format, max_edge=max_edge))
    assert (info.width, info.height) == size


def test_max_edge_picks_whole_pixels():
    # 2x2 blocks of distinct indices, halved: each output pixel is one block's index, not
    # an interpolated blend (indices are labels; their average is an unrelated colour).
    blocks = np.arange(50 * 100, dtype=np.int64).reshape(50, 100) % 255
    frame = np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1).astype(np.uint8)
    data = encode([frame, frame[::-1].copy()], TABLE, fps=FPS, format="gif", max_edge=100)
    decoded = decoded_rgb(data)
    np.testing.assert_array_equal(decoded[0], TABLE[blocks, :3])
    np.testing.assert_array_equal(decoded[1], TABLE[blocks[::-1], :3])


def test_encode_accepts_a_generator_and_consumes_it_all():
    pulled = []

    def frames():
        for number, indices in enumerate(movie(5)):
            pulled.append(number)
            yield indices

    for format in FORMATS:
        pulled.clear()
        assert probe(encode(frames(), TABLE, fps=FPS, format=format)).frames == 5
        assert pulled == [0, 1, 2, 3, 4]


@pytest.mark.asyncio
async def test_encode_runs_in_a_thread():
    data = await asyncio.to_thread(encode, movie(), TABLE, fps=FPS, format="mp4")
    assert probe(data).frames == 12


def test_unknown_format():
    with pytest.raises(ValueError, match="Unknown movie format 'avi'"):
        encode(movie(), TABLE, fps=FPS, format="avi")


def test_no_frames():
    with pytest.raises(ValueError, match="at least one frame"):
        encode([], TABLE, fps=FPS)
    with pytest.raises(ValueError, match="at least one frame"):
        encode(iter(()), TABLE, fps=FPS, format="gif")


@pytest.mark.parametrize("fps", [0, -1, 120.5, math.nan, math.inf, True, "24"])
def test_fps_out_of_range(fps):
    with pytest.raises(ValueError, match="fps must be a number in"):
        encode(movie(), TABLE, fps=fps)


def test_fps_bounds_are_inclusive_at_120():
    assert probe(encode(movie(3), TABLE, fps=120)).frames == 3


@pytest.mark.parametrize("format", FORMATS)
def test_very_slow_and_numpy_typed_fps(format):
    # A GIF delay is 16 bits of hundredths and an MP4 rate a small fraction: both clamp.
    assert probe(encode(movie(2), TABLE, fps=1e-4, format=format)).frames == 2
    info = probe(encode(movie(2), TABLE, fps=np.float32(12), format=format, max_edge=np.int64(48)))
    assert (info.frames, info.width, info.fps) == (2, 48, pytest.approx(12, abs=0.3))


@pytest.mark.parametrize("format", FORMATS)
def test_frames_of_differing_shapes(format):
    frames = [*movie(3), np.zeros((64, 95), dtype=np.uint8)]
    with pytest.raises(ValueError, match=r"frame 0 is \(64, 96\), frame 3 is \(64, 95\)"):
        encode(frames, TABLE, fps=FPS, format=format)


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((64, 96), dtype=np.float64),
        np.zeros((64, 96), dtype=np.int64),
        np.zeros((64, 96, 3), dtype=np.uint8),
        np.zeros(96, dtype=np.uint8),
    ],
    ids=["float64", "int64", "3-D", "1-D"],
)
def test_frames_must_be_2d_uint8(frame):
    with pytest.raises(ValueError, match="must be a 2-D uint8 array"):
        encode([frame], TABLE, fps=FPS)
    # A bad frame after good ones is caught too, with its number.
    with pytest.raises(ValueError, match="Frame 2 must be a 2-D uint8 array"):
        encode([*movie(2), frame], TABLE, fps=FPS, format="gif")


def test_empty_frame():
    with pytest.raises(ValueError, match="empty"):
        encode([np.zeros((0, 96), dtype=np.uint8)], TABLE, fps=FPS)


@pytest.mark.parametrize(
    "table",
    [TABLE.astype(np.float32), TABLE[:255], TABLE[:, :2], TABLE.reshape(-1)],
    ids=["float32", "255 rows", "2 columns", "1-D"],
)
def test_bad_table(table):
    with pytest.raises(ValueError, match="table must"):
        encode(movie(), table, fps=FPS)


def test_rgb_table_is_accepted():
    assert probe(encode(movie(), TABLE[:, :3], fps=FPS, format="gif")).frames == 12


@pytest.mark.parametrize("max_edge", [0, -5, 2.5, True])
def test_bad_max_edge(max_edge):
    with pytest.raises(ValueError, match="max_edge must be a positive integer"):
        encode(movie(), TABLE, fps=FPS, max_edge=max_edge)


def test_probe_rejects_other_data():
    with pytest.raises(ValueError, match="Not an MP4, GIF or WebP"):
        probe(b"\x89PNG\r\n\x1a\n" + bytes(64))
