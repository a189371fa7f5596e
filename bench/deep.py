"""Deep zoom's speed: the reference orbit against precision, perturbation against float64.

Run: ``.venv/bin/python bench/deep.py``. Prints, side by side with ratios:

1. The reference orbit's iterations per second (MPFR through gmpy2, one core) at the
   precision of spans 1e-20, 1e-100 and 1e-300, for a centre with as many digits.
2. Deep frames (perturbation, the reference computed beforehand and timed apart) against
   the float64 kernel on a shallow frame of the same size and ``max_iter``, both on every
   CPU: "effective pixel-iterations" count what direct iteration would cost (an escaped
   pixel its count, an inside one ``max_iter``), whatever the kernel did to get there.
   Each deep frame is computed with bilinear approximation off (:func:`render_deep`) and
   on (:func:`render_bla`, its table built beforehand and timed apart), side by side:
   iterations BLA skipped count as done, and "steps/it" is the fraction of iterations
   the BLA kernel actually stepped through.
3. The extended-range kernel (:mod:`compute.fractal.extended`: float64 mantissa, int
   exponent) on the same footing, BLA off and on, at 1e-300 beside the float64-scaled
   kernels above (their columns "deep off/on"; they stop at 2**-1000) and at 1e-500 and
   1e-1000, where only it works; each frame with its own iteration limit (a little over
   what its pixels need: ~1.25 bits of depth an iteration at i, ~0.4 at M(4,1)).
"""

from __future__ import annotations

import argparse
import os
from functools import partial

import gmpy2
from kernels import best_of, pixel_iterations

from compute.fractal import FractalConfig, render
from compute.fractal.bla import bla_table, frame_radius, render_bla
from compute.fractal.bla import warm_up as bla_warm_up
from compute.fractal.extended import extended_table, render_extended, view_exponent
from compute.fractal.extended import warm_up as extended_warm_up
from compute.fractal.kernels import warm_up
from compute.fractal.perturbation import pixel_offsets, render_deep, view_scale
from compute.fractal.perturbation import warm_up as deep_warm_up
from compute.fractal.reference import (
    ReferenceState,
    extend,
    precision_bits,
    reference_orbit,
)

#: Seahorse valley, its digits continued (deterministically) to 340: a centre that needs
#: every bit of the precision, unlike a Gaussian integer.
SEAHORSE = (
    "-0.74364388703715870475219150611477" + "31415926535897932384626433832795" * 10,
    "0.13182590420531197049313205638514" + "27182818284590452353602874713526" * 10,
)
SPANS = ("1e-20", "1e-100", "1e-300")

#: The Misiurewicz point M(4,1) (z_4 = z_5) near -0.1011 + 0.9563i to 330 digits
#: (Newton's method in python-flint): boundary at every depth, strongly repelling
#: (pixels need ~2,450 iterations at 1e-300), and its rounded orbit escapes: rebases.
M41 = (
    "-0.10109636384562216102578544573862256546380544282625348387693117766078084074047"
    "05842748212198105167790334045319085567411939715461442609118823557039076803016157"
    "58418143435454482306810666402941937826741189160781952644899539699533446682339312"
    "66990098175571504252065388669918613443339616006105627753851442596095607035682216"
    "4327995613304",
    "0.956286510809141500771096057729977435809833336510529170034314321500524659065716"
    "73252697841078733980720434447249264692843667524065674657226562008157197415513138"
    "31228054884443810571677870203738395055477279309548311953190385170024877917670113"
    "10564946205455348585993061500442739744776204598008597391597760386427667074404225"
    "333535432357",
)

#: Deep frames: the Misiurewicz point i (its orbit is exact: Gaussian integers) at three
#: depths, and M(4,1).
DEEP_FRAMES = {
    "i at 1e-20": ("0", "1", "1e-20"),
    "i at 1e-100": ("0", "1", "1e-100"),
    "i at 1e-300": ("0", "1", "1e-300"),
    "M(4,1) at 1e-300": (*M41, "1e-300"),
}
#: The float64 baseline: a shallow boundary view in the seahorse valley, 1e-3 wide, where
#: no pixel lies in the main cardioid or period-2 bulb (the float64 kernel skips those in
#: closed form, which would flatter its rate).
SHALLOW = {
    "fractal": "mandelbrot",
    "x_range": (-0.7458, -0.7448),
    "y_range": (0.1122, 0.1132),
}


def refine_m41(digits: int) -> tuple[str, str]:
    """M(4,1) (``z_4 = z_5``) to ``digits`` digits: Newton's method in MPFR from :data:`M41`."""
    with gmpy2.context(precision=int(digits * 3.33) + 64):
        c = gmpy2.mpc(gmpy2.mpfr(M41[0]), gmpy2.mpfr(M41[1]))
        for _ in range(8):  # quadratic convergence from 330 digits: 2 or 3 steps
            z, dz, values = gmpy2.mpc(0), gmpy2.mpc(0), []
            for _ in range(5):
                z, dz = z * z + c, 2 * z * dz + 1
                values.append((z, dz))
            (a, da), (b, db) = values[3], values[4]
            step = (b - a) / (db - da)
            c -= step
            if abs(step) < gmpy2.mpfr(10) ** -(digits + 10):
                break
        return format(c.real, f".{digits}f"), format(c.imag, f".{digits}f")


#: Extended-range frames: (centre, span, max_iter); M(4,1) to 1,100 digits (made in main).
EXTENDED_FRAMES = {
    "i at 1e-300": (("0", "1"), "1e-300", 1000),
    "M(4,1) at 1e-300": (None, "1e-300", 2600),
    "i at 1e-500": (("0", "1"), "1e-500", 1600),
    "M(4,1) at 1e-500": (None, "1e-500", 4300),
    "i at 1e-1000": (("0", "1"), "1e-1000", 3000),
    "M(4,1) at 1e-1000": (None, "1e-1000", 8400),
}


def bench_reference(iterations: int, repeats: int) -> None:
    print(f"\nReference orbit, one core, {iterations} iterations, best of {repeats}")
    header = f"{'span':8} {'bits':>5} {'iterations':>10} {'seconds':>8} {'it/s':>10} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    first = None
    for span in SPANS:
        bits = precision_bits(span)
        state = ReferenceState.start(*SEAHORSE, bits)
        seconds, (_, chunk) = best_of(repeats, lambda: extend(state, iterations))  # noqa: B023
        rate = len(chunk) / seconds
        first = first or rate
        print(
            f"{span:8} {bits:5d} {len(chunk):10d} {seconds:8.3f} {rate:10.0f} {rate / first:6.2f}"
        )


def bench_frames(size: int, max_iter: int, repeats: int) -> float:
    threads = os.cpu_count() or 1
    print(
        f"\nFrames {size}x{size}, max_iter {max_iter}, {threads} threads, best of {repeats}; "
        "Mpix-it/s: effective pixel-iterations per second, BLA off and on"
    )
    header = (
        f"{'frame':22} {'size':>9} {'limit':>5} {'ref s':>6} {'table s':>7} {'table MB':>8} "
        f"{'Mpix-it':>8} {'off s':>7} {'on s':>7} {'off Mpix-it/s':>13} {'on Mpix-it/s':>12} "
        f"{'off/f64':>7} {'on/f64':>7} {'on/off':>6} {'steps/it':>8}"
    )
    print(header)
    print("-" * len(header))
    config = FractalConfig(**SHALLOW, width=size, height=size, max_iter=max_iter)
    seconds, values = best_of(repeats, lambda: render(config, threads=threads))
    work = pixel_iterations(values, max_iter)
    baseline = work / seconds
    print(
        f"{'float64 seahorse 1e-3':22} {f'{size}x{size}':>9} {max_iter:5d} {'':>6} {'':>7} "
        f"{'':>8} {work / 1e6:8.1f} {seconds:7.3f} {'':>7} {baseline / 1e6:13.1f} {'':>12} "
        f"{1.0:7.2f} {'':>7} {'':>6} {'':>8}"
    )
    for label, (cx, cy, span) in DEEP_FRAMES.items():
        ref_seconds, orbit = best_of(1, lambda: reference_orbit(cx, cy, span, max_iter))  # noqa: B023
        scale, mantissa = view_scale(span)
        radius = frame_radius(*pixel_offsets(size, size, mantissa))
        table_seconds, table = best_of(
            1, partial(bla_table, orbit, scale=scale, scaled_radius=radius)
        )
        frame = (cx, cy, span, size, size, max_iter)
        off_seconds, off_values = best_of(
            repeats, partial(render_deep, *frame, orbit=orbit, threads=threads)
        )
        stats = {}
        on_seconds, on_values = best_of(
            repeats,
            partial(render_bla, *frame, orbit=orbit, table=table, threads=threads, stats=stats),
        )
        off_rate = pixel_iterations(off_values, max_iter) / off_seconds
        work = pixel_iterations(on_values, max_iter)
        on_rate = work / on_seconds
        print(
            f"{label:22} {f'{size}x{size}':>9} {max_iter:5d} {ref_seconds:6.3f} "
            f"{table_seconds:7.3f} {table.nbytes / 1e6:8.2f} {work / 1e6:8.1f} "
            f"{off_seconds:7.3f} {on_seconds:7.3f} {off_rate / 1e6:13.1f} {on_rate / 1e6:12.1f} "
            f"{off_rate / baseline:7.2f} {on_rate / baseline:7.2f} {on_rate / off_rate:6.2f} "
            f"{stats['steps'] / stats['iterations']:8.3f}"
        )
    return baseline


def bench_extended(size: int, repeats: int, baseline: float) -> None:
    threads = os.cpu_count() or 1
    print(
        f"\nExtended range, frames {size}x{size}, {threads} threads, best of {repeats}; "
        "Mpix-it/s as above; /f64: against the float64 baseline above"
    )
    header = (
        f"{'frame':18} {'limit':>5} {'ref s':>6} {'table s':>7} {'Mpix-it':>8} "
        f"{'off s':>7} {'on s':>7} {'off Mpix-it/s':>13} {'on Mpix-it/s':>12} "
        f"{'deep off':>8} {'deep on':>7} {'off/f64':>7} {'on/f64':>7} {'on/off':>6} "
        f"{'steps/it':>8}"
    )
    print(header)
    print("-" * len(header))
    m41 = refine_m41(1100)
    for label, (centre, span, max_iter) in EXTENDED_FRAMES.items():
        cx, cy = centre or m41
        ref_seconds, orbit = best_of(1, lambda: reference_orbit(cx, cy, span, max_iter))  # noqa: B023
        exponent, mantissa = view_exponent(span)
        radius = frame_radius(*pixel_offsets(size, size, mantissa))
        table_seconds, table = best_of(1, partial(extended_table, orbit, exponent, radius))
        frame = (cx, cy, span, size, size, max_iter)
        off_seconds, off_values = best_of(
            repeats, partial(render_extended, *frame, orbit=orbit, bla=False, threads=threads)
        )
        stats = {}
        on_seconds, on_values = best_of(
            repeats,
            partial(
                render_extended, *frame, orbit=orbit, table=table, threads=threads, stats=stats
            ),
        )
        work = pixel_iterations(on_values, max_iter)
        off_rate = pixel_iterations(off_values, max_iter) / off_seconds
        on_rate = work / on_seconds
        deep = ("", "")
        if exponent >= -1000:  # the float64-scaled kernels, for comparison
            deep_off, deep_values = best_of(
                repeats, partial(render_deep, *frame, orbit=orbit, threads=threads)
            )
            deep_on, bla_values = best_of(
                repeats, partial(render_bla, *frame, orbit=orbit, threads=threads)
            )
            deep = (
                f"{pixel_iterations(deep_values, max_iter) / deep_off / 1e6:.1f}",
                f"{pixel_iterations(bla_values, max_iter) / deep_on / 1e6:.1f}",
            )
        print(
            f"{label:18} {max_iter:5d} {ref_seconds:6.3f} {table_seconds:7.3f} "
            f"{work / 1e6:8.1f} {off_seconds:7.3f} {on_seconds:7.3f} {off_rate / 1e6:13.1f} "
            f"{on_rate / 1e6:12.1f} {deep[0]:>8} {deep[1]:>7} {off_rate / baseline:7.2f} "
            f"{on_rate / baseline:7.2f} {on_rate / off_rate:6.2f} "
            f"{stats['steps'] / stats['iterations']:8.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--max-iter", type=int, default=3000)
    parser.add_argument("--reference-iterations", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--extended-size", type=int, default=256)
    args = parser.parse_args()

    warm_up()
    deep_warm_up()
    bla_warm_up()
    extended_warm_up()
    print(f"{os.cpu_count()} CPUs")
    bench_reference(args.reference_iterations, args.repeats)
    baseline = bench_frames(args.size, args.max_iter, args.repeats)
    bench_extended(args.extended_size, args.repeats, baseline)


if __name__ == "__main__":
    main()
