"""Famous places in the Mandelbrot set, and Kalles Fraktaler's location files (``.kfr``).

Each :class:`Location` is a published view, its coordinates copied exactly from where
they were published, its ``source`` saying where and its ``note`` what was converted to
this explorer's view (a centre and a span, the view's full width along the real axis,
as decimal strings: :class:`~.viewport.Viewport`). A location deeper than the depth
limit of the moment (:data:`.viewport.MIN_SPAN`, read at each call) is kept but not
listed. :func:`read_kfr` reads a Kalles Fraktaler 2 location file into the same params.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal

from . import viewport
from .config import MAX_ITER

_FS = "https://github.com/GBillotey/Fractalshades/blob/4f7495d02d7ce24ab921c8164c25c2276d013056"
_KF = "https://github.com/smurfix/kf2/blob/a5ec69a7b94a0a648e4548f5934cf3fd2d3298a4"
_KF_CREDITS = f"credited in {_KF}/benchmarks/CREDITS.txt; KF 2: https://mathr.co.uk/kf/kf.html"
#: Kalles Fraktaler's image when its settings say nothing else: its default TargetWidth x
#: TargetHeight (Settings.tab), the kf2 benchmarks' ImageWidth x ImageHeight (best.kfs).
KF_IMAGE = (640, 360)


@dataclasses.dataclass(frozen=True)
class Location:
    """A published view of the Mandelbrot set: where, how deep, and who published it."""

    name: str  #: a slug, its key: ``"seahorse-valley"``
    title: str  #: for people
    center_real: str
    center_imag: str
    span: str  #: the view's full width along the real axis
    max_iter: int | None  #: None: iterations follow the depth
    source: str  #: where the coordinates were published: URL, author, title
    note: str  #: what was converted to this explorer's view, and how

    @property
    def available(self) -> bool:
        """Whether the depth limit of the moment (:data:`.viewport.MIN_SPAN`) reaches it."""
        return Decimal(self.span) >= Decimal(viewport.MIN_SPAN)

    def params(self) -> dict:
        """Its view as FractalConfig params (the view's canonical strings)."""
        view = viewport.Viewport(
            self.center_real, self.center_imag, self.span, min_span=viewport.MIN_SPAN
        )
        return {"fractal": "mandelbrot", **view.to_dict(), "max_iter": self.max_iter}


LOCATIONS = (
    Location(
        "elephant-valley",
        "Elephant Valley",
        "0.339",
        "-0.051",
        "0.06",
        None,
        "https://yozh.org/2011/05/31/mmm035/ - yozh.org, Mandelbrot Monday 35 (2011-05-31): "
        "'centered near 0.339-0.051i, in the southern half of elephant valley'",
        "The centre as published (to three places); the span (0.06) is ours: the source "
        "gives none. The elephants walk along the main cardioid, below left.",
    ),
    Location(
        "seahorse-valley",
        "Seahorse Valley",
        "-0.746223962861",
        "-0.0959468433527",
        "0.00745",
        None,
        f"{_FS}/examples/batch_mode/04-seahorse_shaded.py - Geoffroy Billotey, "
        "Fractalshades gallery, '04 - Seahorse shaded example'",
        "x, y and dx as published (dx is the full width along x: our span, unchanged). "
        "Fractalshades computes 25000 iterations for its shading; here they follow the depth.",
    ),
    Location(
        "double-embedded-julia",
        "A double embedded Julia set",
        "-1.768667862837488812627419470",
        "0.001645580546820209430325900",
        "12.e-22",
        100_000,
        f"{_FS}/examples/batch_mode/10-double_embedded_julia.py - Geoffroy Billotey, Fractal"
        "shades gallery, '10 - Double embedded Julia set' (coordinates credited there to Robert"
        " P. Munafo, https://mrob.com/pub/muency/secondorderembeddedjuliase.html)",
        "x, y, dx, max_iter as published; dx, the full width along x, is our span (1.2e-21).",
    ),
    Location(
        "misiurewicz-i",
        "The dendrite at c = i",
        "0",
        "1",
        "3e-30",
        None,
        "https://en.wikipedia.org/?oldid=213758711&title=Mandelbrot_set - Wikipedia, 'Mandelbrot"
        " set': 'c = i gives the sequence 0, i, (-1 + i), -i, (-1 + i), -i..., which is bounded'"
        "; http://www.cygnus-software.com/docs/html/ExerciseZoomingintotheMandelbrotset.htm - "
        "Fractal eXtreme's manual: 'Top o' the world and end of the set 0.0 1.0'",
        "c = i is a Misiurewicz point (preperiodic: in the set, on its boundary, alike at every"
        " depth). The point as published; the span (3e-30, a zoom of about 1e30) is ours.",
    ),
    Location(
        "kf-5e113",
        "Kalles Fraktaler's 5e113 benchmark",
        "-1.47981577613247326072298452597877854692240725774045369689878510139864920741002293820"
        "25051732928201122736331305315920391464078341560960816866070512308244635717949190970540"
        "3381200",
        "-0.00063911193261361727152139632255671572957303918943984736047394936471220951961813321"
        "92857306703646615114719543638848616881931834120802322952260901546154358159980751071568"
        "1229605",
        "1.4222222222222222222e-113",
        35_494,
        f"{_KF}/benchmarks/5e113.kfr - Kalles Fraktaler 2+'s benchmark locations, committed "
        "by Claude Heiland-Allen (2017), no other author credited",
        "Re, Im, Iterations as published; Zoom 5.00e113 (the view's height is 4/Zoom) as "
        "read_kfr reads it for KF's default 640x360 image: span = 4/Zoom x 16/9.",
    ),
    Location(
        "dinkydau-flake",
        "Dinkydau's flake",
        "-1.99996619445037030418434688506350579675531241540724851511761922944801584242342684381"
        "376129778868913812287046406560949864353810575744772166485672496092803920095332",
        "-0.00000000000000000000000000000000030013824367909383240724973039775924987346831190773"
        "335270174257280120474975614823581185647299288414075519224186504978181625478529",
        "1.7e-157",
        1_000_000,
        f"{_FS}/examples/batch_mode/09-run_flake_DEM.py - Geoffroy Billotey, Fractalshades "
        "gallery, '09 - A deeper DEM example' (the 'Dinkidau flake')",
        "x, y, dx, max_iter as published; dx, the full width along x, is our span.",
    ),
    Location(
        "ssssssssss",
        "Ssssssssss",
        "-1.76910833040747728089230624355777848356006391186234006507787883404189297159859080844"
        "23460199088682020437579853971174404281518620786746095361341584243275794459276782934933"
        "58112333445291014142565932118624495970123204844421824353001868066369287727901987459220"
        "46142684209058217860629186666350353426119156588068800663472823306396040025965062872111"
        "45256744746177824915961248396182693804512061622291942554072443531473552534125582066367"
        "28680544948343043687334876817161811548434128474621486997968757044320805797353787079320"
        "99259943340496912407404389999999999999999999998",
        "-0.00902068805707261760036093598494762011230558467412386688972791981712911000027307032"
        "57346527485772604116419772842679534355866791857480625214521856184017205123759282792828"
        "40017325461435395900347333831678867372709608373937732035861376732233573306124188011779"
        "55434724672703229251690060990669896274784498860242840497701851849033318045752945025236"
        "33927531544889872781817416269804435588958360873648512722994690962983263275083962245916"
        "00469344439018862266215051078424481599350178419410453543640423233428241935033928198320"
        "38805610324279071648713679999999999999999999998",
        "1.7777777777777777778e-533",
        120_000,
        f"{_KF}/benchmarks/4e533.kfr - Dinkydau, 'Ssssssssss' ({_KF_CREDITS})",
        "Re, Im, Iterations as published; Zoom 4.00000000000E533 as read_kfr reads it (span ="
        " 4/Zoom x 16/9). Listed only where the depth limit (MIN_SPAN) reaches 1.8e-533.",
    ),
)


def locations() -> list[Location]:
    """The locations the depth limit of the moment reaches, shallowest first."""
    return [place for place in LOCATIONS if place.available]


def location(name: str) -> Location:
    """The location named ``name``; ``KeyError`` naming those there are."""
    found = [place for place in LOCATIONS if place.name == name]
    if found and found[0].available:
        return found[0]
    why = f"is deeper than the limit, {viewport.MIN_SPAN}" if found else "is no famous place"
    raise KeyError(f"{name!r} {why}; there are: {', '.join(p.name for p in locations())}.")


def location_params(name: str) -> dict:
    """The FractalConfig params of the location named ``name`` (KeyError: see location)."""
    return location(name).params()


# -- Kalles Fraktaler --------------------------------------------------------------------------
def with_location(params):
    """``params`` with its ``location``, a famous place's name, replaced by the place's view
    (the frame kind's JSON parameters); the values given beside it win (an old
    ``x_range``/``y_range`` over the place's centre and span)."""
    if not isinstance(params, dict) or "location" not in params:
        return params
    params = dict(params)
    name = params.pop("location")
    try:
        place = location_params(name) if isinstance(name, str) else None
    except KeyError as exc:
        raise ValueError(f"location {exc.args[0]}") from None
    if place is None:
        raise ValueError(f"location must be a famous place's name, not {name!r}.")
    if {"x_range", "y_range"} & set(params):
        place = {k: v for k, v in place.items() if k not in ("center_real", "center_imag", "span")}
    return {**place, **params}


_LINE = re.compile(r"([A-Za-z][A-Za-z0-9_]*):(?: (.*))?")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: The fields read; every other one is ignored (colours, series approximation, ...).
_READ = ("Re", "Im", "Zoom", "Iterations", "FractalType", "Power", "ImageWidth", "ImageHeight")
#: KF's transformations, not applied, and their defaults: a note names those set otherwise.
_NOT_APPLIED = {"RotateAngle": 0, "StretchAngle": 0, "StretchAmount": 0, "ImagPointsUp": 0}
_NOT_APPLIED |= {"Rotate": 0, "Ratio": 360}  # the old ones (kf-tile.cpp refuses others)


def read_kfr(text: str, notes: list[str] | None = None) -> dict:
    """A Kalles Fraktaler 2 location file (``.kfr``) as FractalConfig params.

    A ``.kfr`` is lines ``Name: value`` (KF's reader, ``Settings::FromText``, splits each
    at ``": "`` and ignores the names it does not know). Read here: ``Re`` and ``Im``, the
    centre (decimals, exponents allowed: canonicalised through the Viewport), ``Zoom``,
    ``Iterations`` (capped to ``MAX_ITER``), ``FractalType`` and ``Power`` (the Mandelbrot
    set's, 0 and 2, or refused), and ``ImageWidth`` and ``ImageHeight`` if there (KF's
    settings, found in ``.kfs`` files and image metadata).

    **Zoom.** KF keeps ``ZoomRadius = 2 / Zoom`` (``Settings::SetPosition``; Settings.tab:
    "Zoom factor (= 2/radius)") and spaces its pixels ``ZoomRadius * 2 / m_nY`` apart
    (render.cpp, ``m_pixel_scale``), rows from ``-m_nY/2`` to ``m_nY/2``
    (``GetPixelCoordinates``): **the view's height is 4 / Zoom**, its width that times
    ``ImageWidth / ImageHeight`` (utils/kf-tile.cpp: ``4 * aspect`` wide, 4 high, over
    the zoom). Kalles Fraktaler 2+, Claude Heiland-Allen, https://mathr.co.uk/kf/kf.html,
    read in https://github.com/smurfix/kf2 at a5ec69a. Fraktaler 3's README agrees: "Zoom 1
    (without Transform) corresponds to vertical axis from -2 to +2".

    Our span is the width: ``4 / Zoom * width / height``, of the file's image if it gives
    its size, else of KF's default image, :data:`KF_IMAGE` (640x360), with a note. KF's
    rotation, stretch and axis direction are not applied; a note names those a file sets.

    ``notes``, a list, gets what was assumed or changed, for people. A ``ValueError`` names
    the line and the field: a line that is no ``Name: value``, a field given twice, missing
    or not a number, another fractal, a view out of bounds.
    """
    notes = [] if notes is None else notes
    fields: dict[str, tuple[int, str]] = {}
    others: dict[str, str] = {}
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        match = _LINE.fullmatch(line.rstrip())
        if match is None and line.strip():
            raise ValueError(f"line {number} is not 'Name: value': {_shown(line)}.")
        name, value = (match.group(1), (match.group(2) or "").strip()) if match else ("", "")
        if name in fields:
            raise ValueError(f"line {number}: {name} again (first on line {fields[name][0]}).")
        if name in _READ:
            fields[name] = (number, value)
        elif name:
            others[name] = value

    def number(name: str, *, required: bool = True) -> Decimal | None:
        if name not in fields:
            if required:
                raise ValueError(f"no {name} line: not a Kalles Fraktaler location file.")
            return None
        line, value = fields[name]
        if not _NUMBER.fullmatch(value) or len(value) > viewport.MAX_CHARS:
            raise ValueError(f"line {line} ({name}): not a decimal number: {_shown(value)}.")
        try:
            return Decimal(value)
        except ArithmeticError:  # an exponent beyond the decimal module's
            raise ValueError(f"line {line} ({name}): {_shown(value)} is out of range.") from None

    def whole(name: str) -> int | None:
        value = number(name, required=False)
        if value is not None and not (1 <= value < 10**18 and value == int(value)):
            raise ValueError(f"line {fields[name][0]} ({name}): not a positive integer < 1e18.")
        return None if value is None else int(value)

    for name, expected in (("FractalType", 0), ("Power", 2)):
        if number(name, required=False) not in (None, expected):
            raise ValueError(
                f"line {fields[name][0]} ({name}): {fields[name][1]} is not the Mandelbrot "
                "set (FractalType 0, Power 2), the only fractal read from KF files."
            )
    zoom, _, _ = number("Zoom"), number("Re"), number("Im")  # each named if missing or bad
    if zoom <= 0:
        raise ValueError(f"line {fields['Zoom'][0]} (Zoom): must be positive, not {zoom}.")
    width, height = whole("ImageWidth"), whole("ImageHeight")
    if width is None or height is None:
        width, height = KF_IMAGE
        notes.append(
            f"The file gives no image size: KF's default image ({width}x{height}) assumed. "
            "KF's zoom fixes the view's height (4/Zoom); the span is that image's width."
        )
    exact = Context(prec=viewport.SPAN_DIGITS + 10, Emin=MIN_EMIN, Emax=MAX_EMAX)
    try:
        span = exact.divide(exact.multiply(4, width), exact.multiply(zoom, height))
        centre = fields["Re"][1], fields["Im"][1]
        view = viewport.Viewport(*centre, str(span), min_span=viewport.MIN_SPAN)
    except (ValueError, ArithmeticError) as exc:
        named = re.match(r"center_(real|imag)", str(exc))
        field = {"real": "Re", "imag": "Im"}[named.group(1)] if named else "Zoom"
        why = str(exc) if isinstance(exc, ValueError) else "out of range"
        raise ValueError(f"line {fields[field][0]} ({field}): {why}") from None
    iterations = whole("Iterations")
    if iterations is None:
        notes.append("The file gives no Iterations: they follow the depth.")
    elif iterations > MAX_ITER:
        notes.append(f"Iterations {iterations} capped to {MAX_ITER}, this explorer's most.")
        iterations = MAX_ITER
    changed = [
        name
        for name, default in _NOT_APPLIED.items()
        if _NUMBER.fullmatch(others.get(name, "")) and Decimal(others[name]) != default
    ]
    if changed:
        notes.append(f"Not applied (KF's transformations): {', '.join(changed)}.")
    return {"fractal": "mandelbrot", **view.to_dict(), "max_iter": iterations}


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 60 else f"{text[:40]!r}... ({len(text)} characters)"
