"""A view of the complex plane at any depth: an exact centre and a span, as decimal strings.

A :class:`Viewport` is the centre ``center_real + center_imag·i`` of the view and its
``span``, the width of the view in the complex plane; pixels are square, so the height
follows from the frame's aspect. Its three values are decimal strings, exact at any depth
(down to ``min_span``, 1e-300 by default), and each value has one canonical string:

- **Canonical form.** The shortest exact decimal: no trailing zeros, no ``+``, no leading
  zeros, ``-0`` is ``0``. Plain notation (``0.00001``, ``-1.75``) while the leading digit's
  exponent is within [-6, 20], as JavaScript prints numbers; otherwise scientific, one digit
  before the point and a signed exponent (``3.2e-213``, ``-1.5e-7``).
- **Digits.** The span keeps :data:`SPAN_DIGITS` (20) significant digits, far more than a
  zoom factor carries. The centre is rounded (half to even) to the power of ten
  ``10**(E - CENTRE_PLACES)``, where ``E`` is the exponent of the span's leading digit and
  :data:`CENTRE_PLACES` is 25: at most ``span·1e-25``, far below the 1/16 pixel needed at
  the widest frame (4096 px: ``span/65536``). The margin is what makes gestures exact: a
  gesture's offsets are rounded to :data:`OFFSET_PLACES` (6) decimal places of the span (a
  1/244 pixel at 4096 px), so ``offset × span`` always lies on that grid (6 + 20 - 1 = 25
  places below the span's leading digit). The rule does not depend on the frame's width,
  so a viewport's canonical strings do not either. At a span of 1e-300 a centre has about
  326 significant digits.
- **Bounds.** Strings of at most :data:`MAX_CHARS` characters (far below Tornado's header
  limits and Python's int/str conversion limit of 4300 digits); ``|centre| <= 4`` (the
  plane of ``FractalConfig``); ``min_span <= span <= 8``. Anything else raises
  ``ValueError`` naming the parameter and the limit.

Gestures (:meth:`Viewport.zoom`, :meth:`Viewport.pan`, :meth:`Viewport.recentre`) take
offsets from the centre in units of the span, as a Bokeh plot in such normalised units
reports them, and compute the new centre in exact decimal arithmetic.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    localcontext,
)

import numpy as np

#: Longest string accepted for any value (a centre at 1e-1000 has about 1030 characters).
MAX_CHARS = 2000
#: Significant digits kept in a span.
SPAN_DIGITS = 20
#: Decimal places (in units of the span) a gesture's offsets are rounded to.
OFFSET_PLACES = 6
#: The centre's last place, below the exponent of the span's leading digit.
CENTRE_PLACES = SPAN_DIGITS + OFFSET_PLACES - 1
#: ``|center_real|`` and ``|center_imag|`` bound: FractalConfig's PLANE is (-4, 4).
PLANE_RADIUS = Decimal(4)
#: The widest span: the whole plane.
MAX_SPAN = Decimal(8)
#: The default depth limit (a viewport's ``min_span``): spans down to 1e-1000.
MIN_SPAN = "1e-1000"
#: The deepest ``min_span`` allowed: its centres (~1030 characters) stay under MAX_CHARS.
DEEPEST = Decimal("1e-1000")
#: The width of FractalConfig's default view (x_range (-1.6, 1.6)): zoom level 1.
DEFAULT_SPAN = Decimal("3.2")

# Decimal() also takes whitespace, underscores, NaN, Infinity and non-ASCII digits.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _exact() -> Context:
    # Precision far beyond any operand (MAX_CHARS digits, a float's exact expansion):
    # sums and products of viewport values and rounded offsets are then exact.
    return Context(prec=4 * MAX_CHARS, rounding=ROUND_HALF_EVEN, Emin=MIN_EMIN, Emax=MAX_EMAX)


def _shown(value) -> str:
    # A message quotes what was given, but never a megabyte of it.
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...{text[-12:]} ({len(text)} chars)"


def _parse(name: str, text) -> Decimal:
    if not isinstance(text, str):
        raise ValueError(f"{name} must be a decimal string, not {_shown(text)}.")
    if len(text) > MAX_CHARS:
        raise ValueError(f"{name} has {len(text)} characters, over the limit of {MAX_CHARS}.")
    if not _DECIMAL.fullmatch(text):
        raise ValueError(
            f"{name} must be a finite decimal such as '-0.75' or '3.2e-213', not {_shown(text)}."
        )
    try:
        return Decimal(text)
    except ArithmeticError:  # an exponent beyond the decimal module's range
        raise ValueError(f"{name}'s exponent is out of range: {_shown(text)}.") from None


def _number(name: str, value) -> Decimal:
    """A finite real number (a float from a UI) as its exact Decimal."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not {_shown(value)}.")
    try:
        value = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a finite number, not {_shown(value)}.") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {_shown(value)}.")
    return Decimal(value)


def _ratio(name: str, value) -> Decimal:
    # Browsers send float noise (0.30000000000000004 for 0.3): 15 significant digits make
    # it the value meant, and change no view by a visible amount (as FractalConfig does).
    return Context(prec=15, rounding=ROUND_HALF_EVEN).plus(_number(name, value))


def _offset(name: str, value) -> Decimal:
    with localcontext(_exact()):
        return _number(name, value).quantize(Decimal(1).scaleb(-OFFSET_PLACES))


def _pixels(name: str, value) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive number of pixels, not {_shown(value)}.")
    return int(value)


def _round_span(span: Decimal) -> Decimal:
    context = Context(prec=SPAN_DIGITS, rounding=ROUND_HALF_EVEN, Emin=MIN_EMIN, Emax=MAX_EMAX)
    return context.plus(span)


def _build(cls, real: Decimal, imag: Decimal, span: Decimal, min_span: str):
    # Through the constructor: one place validates and rounds every viewport. The span is
    # rounded first, so that the centre's grid is the one of the final span.
    with localcontext(_exact()):
        if span > 0:
            span = _round_span(span)
            quantum = Decimal(1).scaleb(span.adjusted() - CENTRE_PLACES)
            real, imag = real.quantize(quantum), imag.quantize(quantum)
    return cls(canonical(real), canonical(imag), canonical(span), min_span=min_span)


def canonical(value: Decimal) -> str:
    """The canonical string of a finite decimal (see the module's docstring)."""
    sign, digits, exponent = value.as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    if not text:
        return "0"
    exponent += len(digits) - len(text)
    lead = exponent + len(text) - 1  # the exponent of the leading digit
    sign = "-" if sign else ""
    if not -6 <= lead <= 20:
        mantissa = text[0] + (f".{text[1:]}" if len(text) > 1 else "")
        return f"{sign}{mantissa}e{lead:+d}"
    if exponent >= 0:
        return sign + text + "0" * exponent
    point = len(text) + exponent
    if point > 0:
        return f"{sign}{text[:point]}.{text[point:]}"
    return f"{sign}0.{'0' * -point}{text}"


@dataclasses.dataclass(frozen=True)
class Viewport:
    """A view of the complex plane: its exact centre and span, as canonical decimal strings.

    Parameters
    ----------
    center_real, center_imag : str
        The centre, each within [-4, 4]; rounded to the span's centre grid.
    span : str
        The view's width in the complex plane, within [min_span, 8]; rounded to
        :data:`SPAN_DIGITS` significant digits.
    min_span : str, keyword-only
        The deepest span allowed (default ``"1e-300"``, no deeper than 1e-1000). Not in the
        value: it is neither compared nor serialised, and gestures keep it.

    Raises
    ------
    ValueError
        Naming the parameter and its limit, for any value not a canonical-able decimal
        string within bounds.

    Examples
    --------
    >>> Viewport("+0.10", "-0", "3.20e0").to_strings()
    ('0.1', '0', '3.2')
    >>> Viewport("0", "0", "3.2").zoom(2, 0.25, 0).to_strings()
    ('0.4', '0', '1.6')
    """

    center_real: str
    center_imag: str
    span: str
    min_span: str = dataclasses.field(default=MIN_SPAN, compare=False, repr=False, kw_only=True)

    def __post_init__(self):
        deepest = _parse("min_span", self.min_span)
        if not DEEPEST <= deepest <= MAX_SPAN:
            raise ValueError(
                f"min_span must be within [{canonical(DEEPEST)}, {canonical(MAX_SPAN)}], "
                f"not {_shown(self.min_span)}."
            )
        span = _parse("span", self.span)
        if span <= 0:
            raise ValueError(f"span must be positive, not {_shown(self.span)}.")
        if span > MAX_SPAN:
            raise ValueError(
                f"span must be at most {canonical(MAX_SPAN)} (the whole plane), "
                f"not {_shown(self.span)}."
            )
        span = _round_span(span)
        if span < deepest:
            raise ValueError(
                f"span must be at least {canonical(deepest)} (min_span, the deepest zoom "
                f"supported), not {_shown(self.span)}."
            )
        quantum = Decimal(1).scaleb(span.adjusted() - CENTRE_PLACES)
        values = {"span": canonical(span), "min_span": canonical(deepest)}
        for name in ("center_real", "center_imag"):
            value = _parse(name, getattr(self, name))
            if value.copy_abs() > PLANE_RADIUS:
                raise ValueError(
                    f"{name} must be within ±{PLANE_RADIUS} (the plane), "
                    f"not {_shown(getattr(self, name))}."
                )
            with localcontext(_exact()):
                values[name] = canonical(value.quantize(quantum))
        for name, value in values.items():
            object.__setattr__(self, name, value)  # frozen: only here, before anyone sees it

    # -- strings and JSON -----------------------------------------------------------------

    @classmethod
    def from_strings(
        cls, center_real: str, center_imag: str, span: str, *, min_span: str = MIN_SPAN
    ) -> Viewport:
        """A viewport from decimal strings; :meth:`to_strings` is its inverse."""
        return cls(center_real, center_imag, span, min_span=min_span)

    def to_strings(self) -> tuple[str, str, str]:
        """``(center_real, center_imag, span)``, canonical."""
        return self.center_real, self.center_imag, self.span

    def to_dict(self) -> dict[str, str]:
        """The value as JSON: strings only, so that no digit is lost to a float."""
        return {
            "center_real": self.center_real,
            "center_imag": self.center_imag,
            "span": self.span,
        }

    @classmethod
    def from_dict(cls, values: dict, *, min_span: str = MIN_SPAN) -> Viewport:
        """A viewport from :meth:`to_dict`'s mapping; any other key is refused."""
        keys = {"center_real", "center_imag", "span"}
        if not isinstance(values, dict) or set(values) != keys:
            raise ValueError(f"A viewport is a mapping of exactly {sorted(keys)}.")
        return cls(**values, min_span=min_span)

    def decimals(self) -> tuple[Decimal, Decimal, Decimal]:
        """``(center_real, center_imag, span)`` as exact Decimals, for deep renderers."""
        return Decimal(self.center_real), Decimal(self.center_imag), Decimal(self.span)

    # -- the old float64 ranges -----------------------------------------------------------

    @classmethod
    def from_ranges(
        cls, x_range, y_range, width: int, height: int, *, min_span: str = MIN_SPAN
    ) -> Viewport:
        """The viewport of FractalConfig's ``x_range``/``y_range`` on a ``width x height`` frame.

        The centre is the middle of both ranges and the span the width of ``x_range``.
        When the ranges' aspect differs from the frame's (their pixels are not square),
        **the x span wins**: the y range keeps its middle and takes the height
        ``span * height / width``. Floats are read as their shortest repr (``1.6`` is
        ``"1.6"``, not its binary expansion), which is what a person typed.
        """
        _pixels("width", width)
        _pixels("height", height)
        for name, pair in (("x_range", x_range), ("y_range", y_range)):
            if not (isinstance(pair, tuple | list) and len(pair) == 2):
                raise ValueError(f"{name} must be a pair (lo, hi), not {_shown(pair)}.")
        (x0, x1), (y0, y1) = (
            [Decimal(repr(float(_number(name, v)))) for v in pair]
            for name, pair in (("x_range", x_range), ("y_range", y_range))
        )
        if not (x0 < x1 and y0 < y1):
            raise ValueError(f"x_range and y_range must increase, not {x_range}, {y_range}.")
        with localcontext(_exact()):
            return _build(cls, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, min_span)

    def to_ranges(self, width: int, height: int) -> tuple[tuple[float, float], ...]:
        """``((x0, x1), (y0, y1))`` as float64, each end correctly rounded once.

        Meaningful while :meth:`shallow` holds; the ends may lie outside FractalConfig's
        plane for a view near its edge.
        """
        width, height = _pixels("width", width), _pixels("height", height)
        real, imag, span = self.decimals()
        with localcontext(_exact()):
            half_x, half_y = span / 2, span * height / (2 * width)
            return (
                (float(real - half_x), float(real + half_x)),
                (float(imag - half_y), float(imag + half_y)),
            )

    def shallow(self, width: int) -> bool:
        """Whether float64 pixel coordinates are exact enough for a ``width``-pixel frame.

        True when a pixel, ``span / width``, is at least ``2**-40 * max(1, |centre|)``: a
        float64 coordinate's rounding error (``2**-53`` relative) is then under 1/8192 of a
        pixel, and the pixel holds at least ``2**12`` ulps of its coordinate, more than the
        100 that ``FractalConfig.validate`` requires (``2**-44.4``): the ranges of
        :meth:`to_ranges` pass its precision check. Beyond it, render deep (perturbation).
        """
        width = _pixels("width", width)
        real, imag, span = self.decimals()
        with localcontext(_exact()):
            size = max(Decimal(1), real.copy_abs(), imag.copy_abs())
            return span / width >= size * Decimal(2) ** -40

    # -- gestures ---------------------------------------------------------------------------

    def zoom(self, factor: float, anchor_x: float, anchor_y: float) -> Viewport:
        """Magnify by ``factor`` (> 1 zooms in) keeping the point under the anchor fixed.

        The anchor is an offset from the centre in units of the span (``x`` in [-0.5, 0.5],
        ``y`` in ``[-0.5 h/w, 0.5 h/w]`` on screen), rounded to :data:`OFFSET_PLACES`
        places; the factor is read to 15 significant digits. The new span is
        ``span / factor`` rounded to :data:`SPAN_DIGITS` digits; the new centre is
        ``anchor_point - anchor * new_span``, exact when zooming in.
        Zooming in then out by the inverse factor (a power of two, say) gives the same
        viewport back while the span's digits fit; zooming out rounds the centre to the
        shallower view's grid, a fraction of its pixel.
        """
        factor = _ratio("factor", factor)
        if factor <= 0:
            raise ValueError(f"factor must be positive, not {_shown(factor)}.")
        ax, ay = _offset("anchor_x", anchor_x), _offset("anchor_y", anchor_y)
        real, imag, span = self.decimals()
        with localcontext(_exact()):
            new = _round_span(span / factor)
            return _build(
                type(self), real + ax * (span - new), imag + ay * (span - new), new, self.min_span
            )

    def pan(self, dx: float, dy: float) -> Viewport:
        """Move the centre by ``(dx, dy)`` spans, rounded to :data:`OFFSET_PLACES` places.

        Exact: the centre moves by ``dx * span`` precisely (on the centre's grid already).
        """
        dx, dy = _offset("dx", dx), _offset("dy", dy)
        real, imag, span = self.decimals()
        with localcontext(_exact()):
            return _build(type(self), real + dx * span, imag + dy * span, span, self.min_span)

    def recentre(self, x0: float, x1: float, y0: float, y1: float) -> Viewport:
        """The viewport of a box ``[x0, x1] x [y0, y1]`` in span units from the centre.

        What a Bokeh range update reports after a box zoom or a drag, normalised. The box's
        ends are read to 15 significant digits (a browser's float noise dropped), the box's
        middle (rounded to :data:`OFFSET_PLACES` places, of its width where that is below
        1) becomes the centre and, as in
        :meth:`from_ranges`, its x width the span: the y extent follows the frame's aspect.
        """
        ends = [
            _ratio(n, v) for n, v in zip(("x0", "x1", "y0", "y1"), (x0, x1, y0, y1), strict=True)
        ]
        if not (ends[0] < ends[1] and ends[2] < ends[3]):
            raise ValueError(f"the box must have x0 < x1 and y0 < y1, not {x0, x1, y0, y1}.")
        with localcontext(_exact()):
            # On a grid fine against the box (a plot not recentred after every gesture
            # reports boxes much smaller than its unit).
            grid = Decimal(1).scaleb(min(0, (ends[1] - ends[0]).adjusted()) - OFFSET_PLACES)
            mx = ((ends[0] + ends[1]) / 2).quantize(grid)
            my = ((ends[2] + ends[3]) / 2).quantize(grid)
            real, imag, span = self.decimals()
            width = span * (ends[1] - ends[0])
            return _build(type(self), real + mx * span, imag + my * span, width, self.min_span)

    # -- for renderers and people -----------------------------------------------------------

    def pixel_offsets(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel centres' offsets from the centre, in units of the span.

        Returns
        -------
        dx : ndarray of float64, shape ``(width,)``
            Increasing: column 0 is the left edge, as in FractalConfig's frames.
        dy : ndarray of float64, shape ``(height,)``
            Increasing: row 0 is the bottom (``y_range[0]``), as ``tiles.render`` orders rows.

        A pixel's coordinate is ``centre + offset * span``: deep renderers multiply by the
        span themselves, in whatever precision they use.
        """
        width, height = _pixels("width", width), _pixels("height", height)
        dx = (np.arange(width) + (0.5 - width / 2)) / width
        dy = (np.arange(height) + (0.5 - height / 2)) / width
        return dx, dy

    @property
    def zoom_level(self) -> Decimal:
        """Magnification relative to FractalConfig's default view (3.2 wide): 3.2 / span."""
        return Context(prec=SPAN_DIGITS, Emin=MIN_EMIN, Emax=MAX_EMAX).divide(
            DEFAULT_SPAN, Decimal(self.span)
        )

    def describe(self) -> str:
        """One line for people: ``zoom 1.2e+85 at -0.743643887037+0.131825904205i``."""
        level = self.zoom_level
        shown = f"{float(level):.3g}" if level.adjusted() < 6 else f"{level:.1e}"
        real, imag, _ = self.decimals()
        return f"zoom {shown} at {float(real):.12g}{float(imag):+.12g}i"


def auto_max_iter(span) -> int:
    """An iteration limit that grows with depth: ``200 + 100 * d**1.3``, ``d = log10(zoom)``.

    ``zoom`` is :attr:`Viewport.zoom_level` (``3.2 / span``, at least 1). A heuristic, not a
    derivation: escape times near the set's boundary grow as one zooms (the Mathematics
    Stack Exchange question "A way to determine the ideal number of maximum iterations for
    an arbitrary zoom level in a Mandelbrot fractal" observes it and finds no closed form),
    and deep-zoom explorers raise the limit about polynomially in the zoom's decades. 200 at
    the default view, ~2,200 at zoom 1e10, ~40,000 at 1e100, ~166,000 at 1e300.

    Parameters
    ----------
    span : str, Decimal, float or Viewport
        The view's span (a Viewport's own, for a Viewport).
    """
    if isinstance(span, Viewport):
        span = span.span
    value = _parse("span", span) if isinstance(span, str) else span
    if isinstance(value, Decimal):
        if not value.is_finite() or value <= 0:
            raise ValueError(f"span must be a positive finite number, not {_shown(span)}.")
    else:
        value = _number("span", value)
        if value <= 0:
            raise ValueError(f"span must be positive, not {_shown(span)}.")
    # log10 of a tiny Decimal through its exponent: float(1e-400) would be 0.
    lead = value.adjusted()
    decades = math.log10(DEFAULT_SPAN) - lead - math.log10(value.scaleb(-lead))
    return round(200 + 100 * max(0.0, decades) ** 1.3)
