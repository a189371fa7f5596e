"""Deep zoom's speed: the reference orbit against precision, perturbation against float64.

Run: ``.venv/bin/python bench/deep.py``. Prints, side by side with ratios:

1. The reference orbit's iterations per second (MPFR through gmpy2, one core) at the
   precision of spans 1e-20, 1e-100 and 1e-300, for a centre with as many digits.
2. Deep frames (perturbation, the reference computed beforehand and timed apart) against
   the float64 kernel on a shallow frame of the same size and ``max_iter``, both on every
   CPU: "effective pixel-iterations" count what direct iteration would cost (an escaped
   pixel its count, an inside one ``max_iter``), whatever the kernel did to get there.
"""

from __future__ import annotations

import argparse
import os

from kernels import best_of, pixel_iterations

from compute.fractal import FractalConfig, render
from compute.fractal.kernels import warm_up
from compute.fractal.perturbation import render_deep
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


def bench_frames(size: int, max_iter: int, repeats: int) -> None:
    threads = os.cpu_count() or 1
    print(f"\nFrames {size}x{size}, max_iter {max_iter}, {threads} threads, best of {repeats}")
    header = (
        f"{'frame':22} {'reference s':>11} {'frame s':>8} {'Mpix-it':>8} "
        f"{'Mpix-it/s':>10} {'vs float64':>10}"
    )
    print(header)
    print("-" * len(header))
    config = FractalConfig(**SHALLOW, width=size, height=size, max_iter=max_iter)
    seconds, values = best_of(repeats, lambda: render(config, threads=threads))
    work = pixel_iterations(values, max_iter)
    baseline = work / seconds
    print(
        f"{'float64 seahorse 1e-3':22} {'':>11} {seconds:8.3f} {work / 1e6:8.1f} "
        f"{baseline / 1e6:10.1f} {1.0:10.2f}"
    )
    for label, (cx, cy, span) in DEEP_FRAMES.items():
        ref_seconds, orbit = best_of(1, lambda: reference_orbit(cx, cy, span, max_iter))  # noqa: B023
        seconds, values = best_of(
            repeats,
            lambda: render_deep(cx, cy, span, size, size, max_iter, orbit=orbit, threads=threads),  # noqa: B023
        )
        work = pixel_iterations(values, max_iter)
        rate = work / seconds
        print(
            f"{label:22} {ref_seconds:11.3f} {seconds:8.3f} {work / 1e6:8.1f} "
            f"{rate / 1e6:10.1f} {rate / baseline:10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--max-iter", type=int, default=3000)
    parser.add_argument("--reference-iterations", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    warm_up()
    deep_warm_up()
    print(f"{os.cpu_count()} CPUs")
    bench_reference(args.reference_iterations, args.repeats)
    bench_frames(args.size, args.max_iter, args.repeats)


if __name__ == "__main__":
    main()
