"""Escape values -> colours, through a 256-entry lookup table.

Colour is presentation: it never touches Dask and costs a few milliseconds per frame
(``tf.shade(how="eq_hist")`` costs as much as computing the fractal). The work is split
in two so that a front end can send one byte per pixel and colour it on the client:
:func:`normalize` maps values to indices 0..254 (255 marks points inside the set), and
:func:`lookup_table` gives the RGBA rows that :func:`shade` indexes.
"""

from __future__ import annotations

import functools
import io
import math

import colorcet
import numba
import numpy as np

#: Colormaps offered, each from the package that ships it. Sequential maps only: escape
#: values are ordered.
COLORMAPS = {
    "fire": "colorcet",
    "bmy": "colorcet",
    "bgy": "colorcet",
    "bgyw": "colorcet",
    "kbc": "colorcet",
    "bmw": "colorcet",
    "kgy": "colorcet",
    "blues": "colorcet",
    "dimgray": "colorcet",
    "rainbow": "colorcet",
    "colorwheel": "colorcet",
    "viridis": "datashader",
    "inferno": "datashader",
    "Hot": "datashader",
    "Elevation": "datashader",
}

NORMALIZATIONS = ("eq_hist", "log", "linear")

#: Index reserved for points inside the set (and any other non-finite value).
INSIDE = 255
#: Number of colour levels for escaped points (indices 0..LEVELS-1).
LEVELS = 255

_EQ_HIST_BINS = 4096


def _palette(name: str) -> list[tuple[int, int, int]]:
    source = COLORMAPS.get(name)
    if source == "colorcet":
        return [tuple(int(h[i : i + 2], 16) for i in (1, 3, 5)) for h in colorcet.palette[name]]
    if source == "datashader":
        # Imported on demand: importing datashader costs about a second.
        from datashader import colors

        # datashader mixes colour names, hex strings and RGB tuples; its rgb() reads all.
        return [colors.rgb(c) for c in getattr(colors, name)]
    raise ValueError(f"Unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}.")


@functools.lru_cache(maxsize=64)
def lookup_table(name: str, inside: tuple[int, int, int, int] = (0, 0, 0, 255)) -> np.ndarray:
    """RGBA rows for indices 0..255: the colormap resampled to 255 levels, then ``inside``.

    Returns
    -------
    ndarray of uint8, shape (256, 4), read-only.
    """
    rgb = np.array(_palette(name), dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(rgb))
    levels = np.linspace(0.0, 1.0, LEVELS)
    table = np.empty((LEVELS + 1, 4), dtype=np.uint8)
    for channel in range(3):
        table[:LEVELS, channel] = np.round(np.interp(levels, positions, rgb[:, channel]))
    table[:LEVELS, 3] = 255
    table[INSIDE] = inside
    table.setflags(write=False)
    return table


def palette_hex(name: str) -> list[str]:
    """The 255 escaped-point colours of ``name`` as ``#rrggbb`` strings (for front ends)."""
    table = lookup_table(name)
    return ["#{:02x}{:02x}{:02x}".format(*row[:3]) for row in table[:LEVELS]]


class Normalizer:
    """A value -> colour-index mapping fitted on one sample and applied to others.

    A frame arrives tile by tile: normalising each tile on its own would give every tile
    its own colours. Fitting once, on a coarse preview of the whole view, and applying
    the fit to each tile keeps the tiles consistent with each other.

    Parameters
    ----------
    how : {"eq_hist", "log", "linear"}
        ``linear`` spreads the value range evenly; ``log`` compresses high values;
        ``eq_hist`` gives each index about the same number of pixels, which shows detail
        at every depth.
    lo, hi : float
        The fitted value range; values outside it get the first or last colour.
    cdf : ndarray, optional
        ``eq_hist`` only: the sample's cumulative distribution over ``_EQ_HIST_BINS``
        bins of ``[lo, hi]``.
    """

    def __init__(self, how: str, lo: float, hi: float, cdf: np.ndarray | None = None):
        if how not in NORMALIZATIONS:
            raise ValueError(f"Unknown normalization {how!r}; choose one of {NORMALIZATIONS}.")
        self.how, self.lo, self.hi, self.cdf = how, float(lo), float(hi), cdf

    @classmethod
    def fit(cls, values: np.ndarray, how: str = "eq_hist") -> Normalizer:
        """Fit the mapping to the escaped (finite) values of ``values``."""
        if how not in NORMALIZATIONS:
            raise ValueError(f"Unknown normalization {how!r}; choose one of {NORMALIZATIONS}.")
        values = np.asarray(values, dtype=np.float64)
        v = values[np.isfinite(values)]
        if v.size == 0:
            return cls(how, 0.0, 0.0)
        lo, hi = float(v.min()), float(v.max())
        cdf = None
        if how == "eq_hist" and hi > lo:
            cdf = np.cumsum(np.bincount(cls._bins(v, lo, hi), minlength=_EQ_HIST_BINS))
            cdf = cdf.astype(np.float64)
            # Start the CDF at 0 so that the lowest values get the first colour.
            cdf = (cdf - cdf[0]) / max(cdf[-1] - cdf[0], 1.0)
        return cls(how, lo, hi, cdf)

    @staticmethod
    def _bins(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
        bins = ((v - lo) * ((_EQ_HIST_BINS - 1) / (hi - lo))).astype(np.intp)
        return np.clip(bins, 0, _EQ_HIST_BINS - 1, out=bins)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Colour indices for ``values``: uint8, 0..254 escaped, ``INSIDE`` (255) inside.

        One compiled pass that releases the interpreter lock: a server colours every
        tile it streams, and the NumPy version of the same arithmetic (kept as
        :meth:`reference`) held the lock for about 40 ms per million pixels.
        """
        values = np.asarray(values, dtype=np.float64)
        shape = values.shape
        if values.size == 0:
            return np.empty(shape, dtype=np.uint8)
        grid = values.reshape(shape[0], -1) if values.ndim >= 2 else values.reshape(1, -1)
        out = np.empty(grid.shape, dtype=np.uint8)
        how = NORMALIZATIONS.index(self.how)
        cdf = self.cdf if self.cdf is not None else _NO_CDF
        scale = (_EQ_HIST_BINS - 1) / (self.hi - self.lo) if self.hi > self.lo else 0.0
        log_span = float(np.log1p(self.hi - self.lo)) if self.hi > self.lo else 1.0
        _indices(grid, how, self.lo, self.hi, scale, log_span, cdf, out)
        return out.reshape(shape)

    def reference(self, values: np.ndarray) -> np.ndarray:
        """The same mapping in NumPy: the specification :meth:`__call__` is tested against."""
        values = np.asarray(values, dtype=np.float64)
        index = np.full(values.shape, INSIDE, dtype=np.uint8)
        finite = np.isfinite(values)
        v = values[finite]
        if v.size == 0:
            return index
        span = self.hi - self.lo
        if span <= 0:
            index[finite] = 0
            return index
        v = np.clip(v, self.lo, self.hi)
        if self.how == "linear":
            t = (v - self.lo) / span
        elif self.how == "log":
            t = np.log1p(v - self.lo) / np.log1p(span)
        else:
            t = self.cdf[self._bins(v, self.lo, self.hi)]
        index[finite] = np.minimum(t * LEVELS, LEVELS - 1).astype(np.uint8)
        return index


_NO_CDF = np.zeros(1)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _indices(values, how, lo, hi, scale, log_span, cdf, out):  # pragma: no cover (compiled)
    # ``how`` is the position in NORMALIZATIONS: 0 eq_hist, 1 log, 2 linear. Each step
    # is the NumPy reference's own arithmetic, in its order, so the results are equal.
    span = hi - lo
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            if not math.isfinite(v):
                out[i, j] = INSIDE
                continue
            if span <= 0:
                out[i, j] = 0
                continue
            v = min(max(v, lo), hi)
            if how == 2:
                t = (v - lo) / span
            elif how == 1:
                t = math.log1p(v - lo) / log_span
            else:
                b = int((v - lo) * scale)
                t = cdf[min(max(b, 0), _EQ_HIST_BINS - 1)]
            out[i, j] = int(min(t * LEVELS, LEVELS - 1))


def warm_up() -> None:
    """Compile (or load from numba's cache) the colour indexing kernel."""
    sample = np.array([[0.0, 1.0, np.nan]])
    for how in NORMALIZATIONS:
        Normalizer.fit(sample, how)(sample)


def normalize(values: np.ndarray, how: str = "eq_hist") -> np.ndarray:
    """Map escape values to colour indices, fitted on the values themselves.

    Parameters
    ----------
    values : ndarray of float
        Escape values; NaN marks points inside the set.
    how : {"eq_hist", "log", "linear"}
        See :class:`Normalizer`.

    Returns
    -------
    ndarray of uint8
        Same shape as ``values``; 0..254 for escaped points, ``INSIDE`` (255) otherwise.
    """
    return Normalizer.fit(values, how)(values)


def shade(
    values: np.ndarray,
    colormap: str = "fire",
    how: str = "eq_hist",
    inside: tuple[int, int, int, int] = (0, 0, 0, 255),
) -> np.ndarray:
    """Colour escape values: an RGBA image of shape ``values.shape + (4,)``, dtype uint8."""
    return lookup_table(colormap, tuple(inside))[normalize(values, how)]


def to_png(
    values: np.ndarray,
    colormap: str = "fire",
    how: str = "eq_hist",
    inside: tuple[int, int, int, int] = (0, 0, 0, 255),
) -> bytes:
    """Encode a frame as PNG bytes, row 0 (``y_range[0]``) at the bottom of the picture."""
    from PIL import Image

    buffer = io.BytesIO()
    rgba = shade(values, colormap, how, inside)[::-1]
    Image.fromarray(np.ascontiguousarray(rgba)).save(buffer, format="PNG")
    return buffer.getvalue()
