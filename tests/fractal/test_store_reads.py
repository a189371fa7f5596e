"""What the fractal reads back from a store is checked before it is used: a movie's parts
are decompressed within a frame's size (a zlib bomb is refused, not inflated).

No cluster: the parts are read from a real store directory, as a movie resuming does.
"""

from __future__ import annotations

import io
import tracemalloc
import zlib

import numpy as np
import pytest

from compute.fractal import FractalConfig, FrameStore, MovieSpec
from compute.fractal.movie import _pack, _stored_parts, _unpack

#: What the bomb inflates to: 64 MiB (the red team's was 800 MB from 398 KB).
BOMB_BYTES = 64 * 2**20
#: A part of the small movie below is 1.5 KB inflated: reading it must stay far below
#: the bomb's size. (A bound on memory, not a timing.)
PEAK_BOUND = 4 * 2**20


def spec() -> MovieSpec:
    end = FractalConfig(x_range=(-0.35, 0.05), y_range=(-0.2, 0.2), max_iter=200)
    return MovieSpec(start=FractalConfig(max_iter=100), end=end, frames=3, width=32, height=48)


def bomb(size: int = BOMB_BYTES) -> bytes:
    """A well-formed .npy of ``size`` zero bytes, compressed (about 1000:1), made without
    ever holding it whole."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (size,)}
    )
    packer = zlib.compressobj(9)
    chunks = [packer.compress(header.getvalue())]
    zeros = bytes(2**20)
    chunks += [packer.compress(zeros) for _ in range(size // len(zeros))]
    return b"".join([*chunks, packer.flush()])


def part_name(movie: MovieSpec, k: int) -> str:
    return f"{movie.frames_key}-{k:05d}.part"


def test_a_zlib_bomb_in_a_movie_part_is_refused_within_a_frames_memory(tmp_path):
    movie = spec()
    store = FrameStore(tmp_path)
    data = bomb()
    assert len(data) < BOMB_BYTES / 500
    store.put_bytes(part_name(movie, 0), data)
    good = np.arange(48 * 32, dtype=np.uint8).reshape(48, 32)
    store.put_bytes(part_name(movie, 2), _pack(good))

    tracemalloc.start()
    try:
        found = _stored_parts(store, movie)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The bomb reads as missing (its frame is rendered again); the good part is used.
    assert sorted(found) == [2]
    np.testing.assert_array_equal(found[2], good)
    assert peak < PEAK_BOUND, f"reading the parts took {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize(
    "damage",
    [
        # A frame's indices plus one byte: past the bound by the least amount.
        lambda shape: _pack(np.zeros((shape[0] * shape[1] + 4096 + 1,), np.uint8)),
        # A whole part, then more bytes after its stream's end.
        lambda shape: _pack(np.zeros(shape, np.uint8)) + b"trailing",
        # A whole part cut short.
        lambda shape: _pack(np.zeros(shape, np.uint8))[:-5],
        # Not zlib at all.
        lambda shape: b"not compressed",
        # Right size, wrong contents: another frame size, another dtype, no .npy.
        lambda shape: _pack(np.zeros((shape[1], shape[0]), np.uint8)),
        lambda shape: _pack(np.zeros(shape, np.int8)),
        lambda shape: zlib.compress(bytes(shape[0] * shape[1])),
    ],
    ids=["one-byte-over", "trailing", "truncated", "not-zlib", "transposed", "int8", "raw"],
)
def test_a_damaged_part_reads_as_missing(damage):
    shape = (48, 32)
    assert _unpack(damage(shape), shape) is None


@pytest.mark.parametrize("shape", [(16, 16), (48, 32), (1080, 1920), (1920, 1920)])
def test_a_whole_part_of_any_frame_size_reads_back(shape):
    indices = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(_unpack(_pack(indices), shape), indices)
