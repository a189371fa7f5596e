"""The fractal's parameters: what is computed, and how it is shown."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import reprlib
from fractions import Fraction

import param

from ..engine.schema import OverBudget
from .colour import COLORMAPS, NORMALIZATIONS
from .kernels import KERNEL_VERSION

#: Parameters that change the computed values. Only these go into :attr:`FractalConfig.key`.
COMPUTE_PARAMS = (
    "fractal",
    "c_real",
    "c_imag",
    "max_iter",
    "width",
    "height",
    "x_range",
    "y_range",
)
#: Parameters that only change how the values are shown: changing them never recomputes.
DISPLAY_PARAMS = ("colormap", "normalization")

#: Upper bound on width x height x max_iter. About 3 s of one core at the kernel's speed,
#: or a second on a small cluster: beyond it a request is a mistake, not an exploration.
PIXEL_BUDGET = 4 * 2**30

#: Bounds of the complex plane that can be viewed; every interesting point lies inside.
PLANE = (-4.0, 4.0)


def _digits(value) -> float:
    return float(f"{float(value):.15g}") + 0.0


def _shown(value) -> str:
    # A message quotes what was given, but never a megabyte of it.
    short = reprlib.Repr()
    short.maxstring = short.maxother = 60
    short.maxlong = 40
    return short.repr(value)


def _plain(value):
    # numpy scalars and fractions are numbers to the config, but not to JSON.
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def _real(value) -> bool:
    # bool is an int to Python (and to param): True is no count of iterations. Callables
    # are refused too: param would take one as a dynamic value, drawn anew on each read.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _exact(value) -> Fraction:
    # Compared exactly: an int beyond float's range against a NumPy float would overflow.
    return Fraction(int(value)) if isinstance(value, numbers.Integral) else Fraction(float(value))


def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float's range: finite, and out of any bound
        return True


class Real(param.Number):
    """A finite real number within bounds: no bool, NaN, infinity, callable or string."""

    def _validate_value(self, value, allow_None):
        if value is None and allow_None:
            return
        if not _real(value):
            raise ValueError(f"{self.name} must be a number, not {_shown(value)}.")
        if not _finite(value):
            raise ValueError(f"{self.name} must be a finite number, not {_shown(value)}.")


class Count(param.Integer):
    """An integer within bounds: no bool, float, callable or string."""

    def _validate_value(self, value, allow_None):
        if value is None and allow_None:
            return
        if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)):
            raise ValueError(f"{self.name} must be an integer, not {_shown(value)}.")


class Span(param.Range):
    """An increasing pair (lo, hi) of finite real numbers within bounds."""

    def _validate_value(self, value, allow_None):
        if value is None and allow_None:
            return
        if not (isinstance(value, tuple) and len(value) == 2 and all(map(_real, value))):
            raise ValueError(
                f"{self.name} must be a pair of numbers (lo, hi), not {_shown(value)}."
            )
        if not all(map(_finite, value)):
            raise ValueError(f"{self.name} must hold finite numbers, not {_shown(value)}.")
        lo, hi = value
        if not _exact(lo) < _exact(hi):
            raise ValueError(
                f"{self.name} must be increasing (lo < hi), not {_shown(value)}: "
                "a view needs a width."
            )


class FractalConfig(param.Parameterized):
    """One view of a Julia or Mandelbrot set.

    Every parameter is typed and bounded: setting a value of the wrong type (a bool for
    a number included), a NaN or infinity, an empty or inverted range, or a value out of
    bounds raises ``ValueError`` naming the parameter, at construction as at any later
    assignment. Constraints that involve several parameters (float64 precision, the
    pixel budget) are checked at construction and by :meth:`validate`.

    Examples
    --------
    >>> cfg = FractalConfig(fractal="mandelbrot", max_iter=200, width=64, height=48)
    >>> cfg.key.startswith("mandelbrot-")
    True
    """

    fractal = param.Selector(
        default="julia",
        objects=["julia", "mandelbrot"],
        doc="Julia iterates z -> z**2 + c from each pixel; Mandelbrot iterates from 0 with c "
        "set to each pixel.",
    )
    c_real = Real(
        default=-0.8,
        bounds=(-2.0, 2.0),
        softbounds=(-1.5, 0.6),
        step=0.001,
        doc="Real part of the Julia constant c (unused for Mandelbrot).",
    )
    c_imag = Real(
        default=0.156,
        bounds=(-2.0, 2.0),
        softbounds=(-1.0, 1.0),
        step=0.001,
        doc="Imaginary part of the Julia constant c (unused for Mandelbrot).",
    )
    max_iter = Count(
        default=500,
        bounds=(1, 20_000),
        softbounds=(10, 5_000),
        doc="Iterations before a point is declared inside the set.",
    )
    width = Count(default=1024, bounds=(16, 4096), doc="Frame width in pixels.")
    height = Count(default=1024, bounds=(16, 4096), doc="Frame height in pixels.")
    x_range = Span(
        default=(-1.6, 1.6),
        bounds=PLANE,
        doc="Real axis (x0, x1) of the viewport, x0 < x1.",
    )
    y_range = Span(
        default=(-1.6, 1.6),
        bounds=PLANE,
        doc="Imaginary axis (y0, y1) of the viewport, y0 < y1.",
    )
    colormap = param.Selector(
        default="fire",
        objects=list(COLORMAPS),
        doc="Colormap (colorcet or datashader) for escaped points; display only.",
    )
    normalization = param.Selector(
        default="eq_hist",
        objects=list(NORMALIZATIONS),
        doc="How escape values map to colours: linear, log or histogram-equalised; display only.",
    )

    def __init__(self, **params):
        super().__init__(**params)
        self.validate()

    def validate(self) -> FractalConfig:
        """Check the constraints that span several parameters.

        Returns
        -------
        FractalConfig
            ``self``, so that calls can be chained.

        Raises
        ------
        ValueError
            With a message naming the offending parameters and what would fix them.
        OverBudget
            (A ValueError.) Over the pixel budget: each value valid, too costly together.
        """
        # Each value is already finite, typed and ordered (the parameters' own types
        # refuse anything else as it is set): what is left spans several parameters.
        for name, n in (("x_range", self.width), ("y_range", self.height)):
            lo, hi = getattr(self, name)
            # Below ~100 ulps per pixel neighbouring pixels get identical coordinates.
            if (hi - lo) / n < 100 * math.ulp(max(abs(lo), abs(hi), 1.0)):
                raise ValueError(
                    f"{name} spans {hi - lo:.3g} over {n} pixels: zoomed in beyond float64 "
                    "precision. Zoom out."
                )
        cost = self.width * self.height * self.max_iter
        if cost > PIXEL_BUDGET:
            raise OverBudget(
                f"width x height x max_iter = {self.width} x {self.height} x {self.max_iter} "
                f"= {cost / 1e9:.1f} billion pixel-iterations, over the budget of "
                f"{PIXEL_BUDGET / 1e9:.1f} billion. Lower max_iter or the resolution."
            )
        return self

    def compute_values(self) -> dict:
        """The parameters that determine the computed values, as plain Python values."""
        values = {name: getattr(self, name) for name in COMPUTE_PARAMS}
        # param accepts ints for Number parameters, and -0.0 == 0.0: normalise both so
        # that equal requests get equal keys (adding 0.0 turns -0.0 into 0.0). Browsers
        # send slider values with float noise (-0.5810000000000001 for -0.581): 15
        # significant digits make them one value, and change no view by a pixel (the
        # deepest zoom allowed keeps 100 ulps, about 17 digits' 100, per pixel).
        for name in ("max_iter", "width", "height"):
            values[name] = int(values[name])  # numpy's integers are no JSON
        values["c_real"] = _digits(values["c_real"])
        values["c_imag"] = _digits(values["c_imag"])
        values["x_range"] = tuple(_digits(v) for v in values["x_range"])
        values["y_range"] = tuple(_digits(v) for v in values["y_range"])
        if self.fractal == "mandelbrot":
            # c plays no part in the Mandelbrot set: two requests differing only in c
            # are the same computation.
            values["c_real"] = values["c_imag"] = 0.0
        return values

    @property
    def key(self) -> str:
        """A deterministic name for the computed frame.

        Identical compute parameters give the same key in every process and on every
        machine; display parameters (colormap, normalisation) and the name are left out.
        The kernel version is part of it, so a changed kernel never reuses old results.
        """
        values = self.compute_values()
        exact = {
            k: (
                [float(x).hex() for x in v]
                if isinstance(v, tuple)
                else (float(v).hex() if isinstance(v, float) else v)
            )
            for k, v in values.items()
        }
        exact["kernel"] = KERNEL_VERSION
        digest = hashlib.sha256(json.dumps(exact, sort_keys=True).encode()).hexdigest()
        return f"{self.fractal}-{digest[:24]}"

    def __dask_tokenize__(self):
        # Dask would name a Parameterized by its generated name (FractalConfig00002): two
        # equal configs would never share a call's key, nor agree across processes.
        return ("FractalConfig", self.key, self.colormap, self.normalization)

    @property
    def pixel_iterations(self) -> int:
        """The most work this frame can cost: width x height x max_iter."""
        return self.width * self.height * self.max_iter

    def values(self) -> dict:
        """Every parameter but the name (ranges as tuples): what makes an equal config."""
        return {k: v for k, v in self.param.values().items() if k != "name"}

    def to_dict(self) -> dict:
        """Every parameter but the name, as JSON values (ranges as lists).

        :meth:`from_dict` is its inverse; a job record keeps a config this way.
        """
        return {
            k: ([_plain(x) for x in v] if isinstance(v, tuple) else _plain(v))
            for k, v in self.values().items()
        }

    @classmethod
    def from_dict(cls, values: dict) -> FractalConfig:
        """A validated config from :meth:`to_dict`'s values (or a subset of them).

        Raises
        ------
        ValueError
            For an unknown parameter name or an invalid value, with param's message.
        """
        if not isinstance(values, dict):
            raise ValueError(f"A config is a mapping of parameter names, not {values!r}.")
        unknown = sorted(set(values) - set(cls.param) | ({"name"} & set(values)))
        if unknown:
            raise ValueError(f"Unknown parameter(s) {', '.join(map(str, unknown))}.")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def copy(self, **changes) -> FractalConfig:
        """A validated copy with some parameters changed."""
        values = {**self.values(), **changes}
        return type(self)(**values)

    def preview(self, edge: int = 128) -> FractalConfig:
        """The same view at a coarse resolution, at most ``edge`` pixels on its longer side.

        A preview costs about 1/64 of a 1024x1024 frame, so it arrives almost at once and
        shows the new shape while the full frame computes; it also samples the value
        distribution that the full frame's tiles are coloured with.
        """
        scale = min(1.0, edge / max(self.width, self.height))
        width = max(16, round(self.width * scale))
        height = max(16, round(self.height * scale))
        # A coarser grid over the same ranges can fall below the precision check's limit
        # only if the full frame does, and it has fewer pixels: copy() revalidates anyway.
        return self.copy(width=width, height=height)

    def summary(self) -> str:
        """A one-line human description, e.g. for a job history."""
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        what = (
            f"julia c={self.c_real:+.4f}{self.c_imag:+.4f}i"
            if self.fractal == "julia"
            else "mandelbrot"
        )
        return (
            f"{what}, {self.max_iter} it, {self.width}x{self.height}, "
            f"x[{x0:.4g}, {x1:.4g}] y[{y0:.4g}, {y1:.4g}]"
        )
