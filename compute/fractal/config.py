"""The fractal's parameters: what is computed, and how it is shown.

The view is a centre and a span, decimal strings exact at any depth (see
:class:`~.viewport.Viewport`); a frame whose pixels float64 can tell apart (the view is
*shallow*) is computed by the float64 kernel, a deeper one by perturbation
(:mod:`.perturbation`). Both give smooth escape values of the same scale, so colours do
not jump where one takes over from the other.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import reprlib
from fractions import Fraction
from typing import ClassVar

import param

from ..engine.schema import OverBudget
from .colour import COLORMAPS, NORMALIZATIONS
from .deep import DEEP_VERSION
from .extended import view_exponent
from .julia_deep import MIN_SPAN_EXPONENT as JULIA_MIN_EXPONENT
from .kernels import KERNEL_VERSION
from .reference import span_exponent
from .viewport import MIN_SPAN, Viewport, auto_max_iter

#: Parameters that change the computed values. Only these go into :attr:`FractalConfig.key`.
COMPUTE_PARAMS = (
    "fractal",
    "c_real",
    "c_imag",
    "max_iter",
    "width",
    "height",
    "center_real",
    "center_imag",
    "span",
)
#: The view: decimal strings (never JSON numbers: they lose digits).
VIEW_PARAMS = ("center_real", "center_imag", "span")
#: The old names of the view, still accepted (see :class:`FractalConfig`).
LEGACY_PARAMS = ("x_range", "y_range")
#: Parameters that only change how the values are shown: changing them never recomputes.
DISPLAY_PARAMS = ("colormap", "normalization")

#: A unit of work: 4.3 billion pixel-iterations, about 3 s of one core at the float64
#: kernel's speed. The caps count in it (:mod:`.setup`).
PIXEL_BUDGET = 4 * 2**30
#: The most a frame may be expected to cost, in pixel-iterations: its estimate from a
#: preview where there is one (the explorer's frames), else its worst case, width x
#: height x max_iter (a request of the HTTP API). Sixteen units: a minute of one core,
#: seconds on a cluster; a deep frame's typical pixel escapes long before max_iter.
FRAME_BUDGET = 16 * PIXEL_BUDGET
#: The most iterations a frame may ask for (deep views need hundreds of thousands).
MAX_ITER = 1_000_000

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


class DecimalText(param.String):
    """A decimal number as a string (``"-0.75"``, ``"3.2e-213"``): exact at any depth.

    Strings only: a JSON number turns ``1e-400`` into ``0.0`` without a word. Its form,
    length and bounds are checked as it is set (a centre within ±4, a span within
    [1e-300, 8]: :class:`~.viewport.Viewport`'s rules); its canonical form and the digits
    the depth keeps, with the other values of the view, by ``FractalConfig.validate``.
    """

    def _validate_value(self, value, allow_None):
        if value is None and allow_None:
            return
        if not isinstance(value, str):
            raise ValueError(
                f'{self.name} must be a decimal string such as "-0.75" or "3.2e-213", '
                f"not {_shown(value)}: a JSON number loses digits (1e-400 would be 0)."
            )
        if self.name is not None:  # (not yet, for the default, as the class is made)
            # Alone, beside a plain view: the message names this parameter and its limit.
            Viewport(**{"center_real": "0", "center_imag": "0", "span": "1", self.name: value})


class FractalConfig(param.Parameterized):
    """One view of a Julia or Mandelbrot set.

    The view is a centre (``center_real``, ``center_imag``) and a ``span``, the view's
    width in the complex plane, as decimal strings; pixels are square, so the height in
    the plane is ``span * height / width``. Each value has one canonical form (``"0.1"``,
    ``"0.10"`` and ``"1e-1"`` are one view and one key) and the centre keeps the digits
    its depth needs (see :class:`~.viewport.Viewport`). Views whose pixels float64 can
    tell apart are computed by the float64 kernel; deeper Mandelbrot views, down to a
    span of 1e-300, by perturbation (Julia sets too, their constant ``c`` a float64).

    The old ``x_range``/``y_range`` pairs are still accepted (links, API bodies, stored
    history) and read back as properties: their middle is the centre and the width of
    ``x_range`` the span; when their aspect differs from the frame's, **the x range
    wins** and the y range keeps its middle.

    Every parameter is typed and bounded: setting a value of the wrong type (a bool for
    a number, a float for a decimal string included), a NaN or infinity, or a value out
    of bounds raises ``ValueError`` naming the parameter, at construction as at any
    later assignment. Constraints that involve several parameters (the view's digits
    and depth) are checked at construction and by :meth:`validate`.

    Examples
    --------
    >>> cfg = FractalConfig(fractal="mandelbrot", max_iter=200, width=64, height=48)
    >>> cfg.key.startswith("mandelbrot-")
    True
    >>> FractalConfig(center_real="-0.10", span="1e-1").center_real
    '-0.1'
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
        bounds=(1, MAX_ITER),
        softbounds=(10, 5_000),
        doc="Iterations before a point is declared inside the set. Given as None (null) at "
        "construction: a number that grows with depth (viewport.auto_max_iter).",
    )
    width = Count(default=1024, bounds=(16, 4096), doc="Frame width in pixels.")
    height = Count(default=1024, bounds=(16, 4096), doc="Frame height in pixels.")
    center_real = DecimalText(
        default="0", doc="Real part of the view's centre, a decimal string within ±4."
    )
    center_imag = DecimalText(
        default="0", doc="Imaginary part of the view's centre, a decimal string within ±4."
    )
    span = DecimalText(
        default="3.2",
        doc=f"Width of the view in the complex plane, a decimal string within [{MIN_SPAN}, 8] "
        '(e.g. "3.2e-213"); pixels are square.',
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

    #: The old view's names, still read from JSON (see compute.engine.schema.from_json).
    json_aliases: ClassVar[dict] = {
        name: param.Range(doc=f"The old view's {name} (lo, hi); x wins.") for name in LEGACY_PARAMS
    }
    #: Numbers a request may give as null: resolved at construction.
    json_nullable = ("max_iter",)

    def __init__(self, **params):
        legacy = {name: params.pop(name) for name in LEGACY_PARAMS if name in params}
        if legacy:
            given = sorted({"center_real", "center_imag", "span"} & set(params))
            if given:
                raise ValueError(
                    f"Give the view as center_real, center_imag and span, or as x_range and "
                    f"y_range, not both ({', '.join(given)} with {', '.join(sorted(legacy))})."
                )
            params.update(view_of_ranges(legacy, params))
        automatic = "max_iter" in params and params["max_iter"] is None
        if automatic:
            span = params.get("span", type(self).param.span.default)
            try:
                params["max_iter"] = min(auto_max_iter(span), MAX_ITER)
            except ValueError:
                del params["max_iter"]  # the span itself is refused, naming itself
        super().__init__(**params)
        self.validate()

    # -- the view ----------------------------------------------------------------------------
    @property
    def viewport(self) -> Viewport:
        """The view as a :class:`~.viewport.Viewport` (canonical strings, gestures)."""
        return Viewport(self.center_real, self.center_imag, self.span)

    @property
    def deep(self) -> bool:
        """Whether float64 cannot tell this view's pixels apart: computed by perturbation."""
        return not self.viewport.shallow(self.width)

    @property
    def x_range(self) -> tuple[float, float]:
        """The real axis ``(x0, x1)`` in float64, to the 15 digits the float64 kernel
        computes from (exact enough while not :attr:`deep`)."""
        return self._ranges()[0]

    @property
    def y_range(self) -> tuple[float, float]:
        """The imaginary axis ``(y0, y1)``, as :attr:`x_range`."""
        return self._ranges()[1]

    def _ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        # 15 digits change no shallow view by a pixel (a pixel holds 2**12 ulps).
        x_range, y_range = self.viewport.to_ranges(self.width, self.height)
        return tuple(_digits(v) for v in x_range), tuple(_digits(v) for v in y_range)

    def validate(self) -> FractalConfig:
        """Check the constraints that span several parameters, and make the view canonical.

        Returns
        -------
        FractalConfig
            ``self``, so that calls can be chained.

        Raises
        ------
        ValueError
            With a message naming the offending parameters and what would fix them.
        """
        # Each value is already typed and bounded (the parameters' own types refuse
        # anything else as it is set): what is left spans several parameters.
        view = self.viewport
        if not view.shallow(self.width):
            if self.fractal == "julia" and span_exponent(view.span) < JULIA_MIN_EXPONENT:
                raise ValueError(
                    f"span {view.span} is deeper than Julia sets are drawn "
                    f"(2**{JULIA_MIN_EXPONENT}, about 1e-301; the Mandelbrot set goes "
                    "deeper). Zoom out, or switch to the Mandelbrot set."
                )
            view_exponent(view.span)  # the deep kernels' own limit, as a ValueError
        changes = {
            name: value for name, value in view.to_dict().items() if getattr(self, name) != value
        }
        if changes:
            self.param.update(**changes)
        return self

    def check_budget(self, cost: float | None = None) -> None:
        """Refuse a frame expected to cost more than :data:`FRAME_BUDGET`.

        Parameters
        ----------
        cost : float, optional
            Its expected pixel-iterations (from a preview); by default the worst case,
            :attr:`pixel_iterations`.

        Raises
        ------
        OverBudget
            (A ValueError.) Each value valid, too costly together: what to lower.
        """
        # An estimate is no more than the worst case (a caller may pass a large one to
        # shape the tiling).
        expected = self.pixel_iterations if cost is None else min(cost, self.pixel_iterations)
        if expected > FRAME_BUDGET:
            how = "worst case " if cost is None else "estimate "
            raise OverBudget(
                f"this frame's {how}is {expected / 1e9:.1f} billion pixel-iterations "
                f"({self.width} x {self.height} pixels, max_iter {self.max_iter}), over the "
                f"budget of {FRAME_BUDGET / 1e9:.1f} billion. Lower max_iter or the resolution."
            )

    def compute_values(self) -> dict:
        """The parameters that determine the computed values, as plain Python values.

        The view as canonical strings, and for a view that is not :attr:`deep` its float64
        ``x_range`` and ``y_range`` too (what the float64 kernel computes from).
        """
        values = {name: getattr(self, name) for name in COMPUTE_PARAMS}
        values.update(self.viewport.to_dict())
        # param accepts ints for Number parameters, and -0.0 == 0.0: normalise both so
        # that equal requests get equal keys (adding 0.0 turns -0.0 into 0.0). Browsers
        # send slider values with float noise (-0.5810000000000001 for -0.581): 15
        # significant digits make them one value.
        for name in ("max_iter", "width", "height"):
            values[name] = int(values[name])  # numpy's integers are no JSON
        values["c_real"] = _digits(values["c_real"])
        values["c_imag"] = _digits(values["c_imag"])
        if self.fractal == "mandelbrot":
            # c plays no part in the Mandelbrot set: two requests differing only in c
            # are the same computation.
            values["c_real"] = values["c_imag"] = 0.0
        if not self.deep:
            values["x_range"], values["y_range"] = self._ranges()
        return values

    @property
    def key(self) -> str:
        """A deterministic name for the computed frame.

        Identical compute parameters give the same key in every process and on every
        machine; display parameters (colormap, normalisation) and the name are left out.
        The kernel version is part of it, so a changed kernel never reuses old results.
        A view the float64 kernel computes is named by the float64 ranges it computes
        from, as before the view became a centre and a span: its stored frames keep their
        keys. A deep view is named by its canonical strings.
        """
        values = self.compute_values()
        if "x_range" in values:
            values = {k: v for k, v in values.items() if k not in VIEW_PARAMS}
        else:
            values["deep"] = DEEP_VERSION
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
        """Every parameter but the name: what makes an equal config."""
        return {k: v for k, v in self.param.values().items() if k != "name"}

    def to_dict(self) -> dict:
        """Every parameter but the name, as JSON values (the view as strings).

        :meth:`from_dict` is its inverse; a job record keeps a config this way.
        """
        return {k: _plain(v) for k, v in self.values().items()}

    @classmethod
    def from_dict(cls, values: dict) -> FractalConfig:
        """A validated config from :meth:`to_dict`'s values (or a subset of them).

        Old records' ``x_range``/``y_range`` lists are read as the view they describe.

        Raises
        ------
        ValueError
            For an unknown parameter name or an invalid value, with param's message.
        """
        if not isinstance(values, dict):
            raise ValueError(f"A config is a mapping of parameter names, not {values!r}.")
        known = set(cls.param) | set(LEGACY_PARAMS)
        unknown = sorted(set(values) - known | ({"name"} & set(values)))
        if unknown:
            raise ValueError(f"Unknown parameter(s) {', '.join(map(str, unknown))}.")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def copy(self, **changes) -> FractalConfig:
        """A validated copy with some parameters changed (``x_range``/``y_range`` too)."""
        values = self.values()
        if set(LEGACY_PARAMS) & set(changes):
            # The view given the old way: this one's view goes (the constructor refuses
            # both ways at once), its ranges fill in the one not given.
            values = {k: v for k, v in values.items() if k not in VIEW_PARAMS}
            values.update({name: getattr(self, name) for name in LEGACY_PARAMS})
        return type(self)(**{**values, **changes})

    def preview(self, edge: int = 128) -> FractalConfig:
        """The same view at a coarse resolution, at most ``edge`` pixels on its longer side.

        A preview costs about 1/64 of a 1024x1024 frame, so it arrives almost at once and
        shows the new shape while the full frame computes; it also samples the value
        distribution that the full frame's tiles are coloured with. Its pixels are larger:
        a preview of a deep view may be shallow, and computed in float64.
        """
        scale = min(1.0, edge / max(self.width, self.height))
        width = max(16, round(self.width * scale))
        height = max(16, round(self.height * scale))
        return self.copy(width=width, height=height)

    def summary(self) -> str:
        """A one-line human description, e.g. for a job history."""
        what = (
            f"julia c={self.c_real:+.4f}{self.c_imag:+.4f}i"
            if self.fractal == "julia"
            else "mandelbrot"
        )
        where = self.viewport.describe()
        return f"{what}, {self.max_iter} it, {self.width}x{self.height}, {where}"


def view_of_ranges(legacy: dict, params: dict) -> dict[str, str]:
    """The view (``center_real``, ``center_imag``, ``span``) of old ``x_range``/``y_range``
    pairs in ``legacy`` (a missing one is the old default's) on the frame of ``params``
    (``width``, ``height``): x wins."""
    default = (-1.6, 1.6)
    ranges = []
    for name in LEGACY_PARAMS:
        pair = legacy.get(name, default)
        if isinstance(pair, list):
            pair = tuple(pair)
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(map(_real, pair))):
            raise ValueError(f"{name} must be a pair of numbers (lo, hi), not {_shown(pair)}.")
        if not all(map(_finite, pair)) or not all(abs(_exact(v)) <= 4 for v in pair):
            raise ValueError(f"{name} must hold finite numbers within ±4, not {_shown(pair)}.")
        if not _exact(pair[0]) < _exact(pair[1]):
            raise ValueError(
                f"{name} must be increasing (lo < hi), not {_shown(pair)}: a view needs a width."
            )
        ranges.append(pair)
    width = params.get("width", FractalConfig.param.width.default)
    height = params.get("height", FractalConfig.param.height.default)
    width = width if isinstance(width, int) and width > 0 else 1
    height = height if isinstance(height, int) and height > 0 else 1
    return Viewport.from_ranges(*ranges, width, height).to_dict()
