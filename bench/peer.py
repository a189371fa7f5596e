"""Our deep frames against the peer package fractalshades, same frames, side by side.

Run: ``bash bench/peer_setup.sh`` once (it makes ``.venv-peer``, fractalshades' own
virtual environment), then ``.venv/bin/python bench/peer.py`` (or ``make bench-peer``).

For each frame, the M(4,1) Misiurewicz point at spans 1e-20, 1e-100 and 1e-300 and the
seahorse centre at 1e-100 (``bench/deep.py``'s digits), both sides render the same
pixels (same centre, same span along the real axis edge to edge, square pixels; see
``bench/peer_fractalshades.py`` for fractalshades' conventions) with the same
``max_iter``, escape radius (256) and thread count:

- ours: :func:`compute.fractal.bla.render_bla`, its reference orbit and BLA table
  computed beforehand and timed apart, kernels compiled beforehand;
- theirs: ``fractalshades.models.Perturbation_mandelbrot`` with BLA on (its default
  ``BLA_eps`` 1e-6) and off, run by ``bench/peer_fractalshades.py`` in ``.venv-peer``,
  compile time (a warm-up frame) and its reference orbit and BLA tree timed apart.

Seconds are the best of ``--repeats``; "Mpix-it/s" are effective pixel-iterations per
second, as in ``bench/deep.py``: an escaped pixel counts its escape count, an inside one
``max_iter``, whatever the kernel did to get there. fractalshades' counts are read back
from its output arrays, and compared pixel by pixel with ours in the second table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
from deep import M41, SEAHORSE
from kernels import best_of, pixel_iterations

from compute.fractal.bla import bla_table, frame_radius, render_bla
from compute.fractal.bla import warm_up as bla_warm_up
from compute.fractal.perturbation import pixel_offsets, view_scale
from compute.fractal.reference import reference_orbit

ROOT = Path(__file__).resolve().parent.parent
PEER_SCRIPT = ROOT / "bench" / "peer_fractalshades.py"
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"

#: (label, centre real, centre imaginary, span)
LOCATIONS = (
    ("M(4,1) at 1e-20", *M41, "1e-20"),
    ("M(4,1) at 1e-100", *M41, "1e-100"),
    ("M(4,1) at 1e-300", *M41, "1e-300"),
    ("seahorse at 1e-100", *SEAHORSE, "1e-100"),
)


def ours(frame: dict, threads: int, repeats: int) -> dict:
    cx, cy, span = frame["center_real"], frame["center_imag"], frame["span"]
    width, height, max_iter = frame["width"], frame["height"], frame["max_iter"]
    ref_seconds, orbit = best_of(1, partial(reference_orbit, cx, cy, span, max_iter))
    scale, mantissa = view_scale(span)
    radius = frame_radius(*pixel_offsets(width, height, mantissa))
    table_seconds, table = best_of(1, partial(bla_table, orbit, scale=scale, scaled_radius=radius))
    seconds, values = best_of(
        repeats,
        partial(
            render_bla, cx, cy, span, width, height, max_iter,
            orbit=orbit, table=table, threads=threads,
        ),
    )  # fmt: skip
    work = pixel_iterations(values, max_iter)
    counts = np.where(np.isnan(values), max_iter, np.floor(values)).astype(np.int64)
    return {
        "seconds": seconds,
        "reference_seconds": ref_seconds,
        "table_seconds": table_seconds,
        "pixel_iterations": work,
        "counts": counts,
    }


def peer(frames: list[dict], args: argparse.Namespace, counts_dir: str) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(frames, file)
    command = [
        str(args.peer_python),
        str(PEER_SCRIPT),
        "--json",
        "--frames",
        file.name,
        "--threads",
        str(args.threads),
        "--repeats",
        str(args.repeats),
        "--bla",
        args.peer_bla,
        "--bla-eps",
        str(args.peer_bla_eps),
        "--counts-dir",
        counts_dir,
        *(["--no-newton"] if args.peer_no_newton else []),
    ]
    print(f"peer: {frames[0]['label']} ({args.peer_python.name} {PEER_SCRIPT.name})", flush=True)
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        os.unlink(file.name)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-5000:])
        raise SystemExit(f"bench/peer_fractalshades.py failed ({done.returncode})")
    print(f"  ({time.perf_counter() - start:.0f} s with its start and warm-up)", flush=True)
    if args.peer_log:
        with open(args.peer_log, "a") as log:
            log.write(done.stderr)
    return json.loads(done.stdout)


def agreement(mine: np.ndarray, theirs: np.ndarray, max_iter: int) -> dict:
    diff = theirs.astype(np.int64) - mine
    inside_mine, inside_theirs = mine >= max_iter, theirs >= max_iter
    return {
        "equal": float(np.mean(diff == 0)),
        "within1": float(np.mean(np.abs(diff) <= 1)),
        "max_abs": int(np.abs(diff).max()),
        "mean": float(diff.mean()),
        "inside_only_ours": int((inside_mine & ~inside_theirs).sum()),
        "inside_only_theirs": int((inside_theirs & ~inside_mine).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=400)
    parser.add_argument("--height", type=int, default=300)
    parser.add_argument("--max-iter", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    parser.add_argument("--peer-bla", choices=("on", "off", "both"), default="both")
    parser.add_argument("--peer-bla-eps", type=float, default=1e-6)
    parser.add_argument(
        "--peer-no-newton",
        action="store_true",
        help="fractalshades' reference at the centre, as ours (default: its Newton search)",
    )
    parser.add_argument("--peer-log", help="append fractalshades' stderr (its log) here")
    parser.add_argument("--samples", type=int, default=4, help="pixels printed per frame")
    args = parser.parse_args()
    if not args.peer_python.exists():
        raise SystemExit(f"{args.peer_python} missing: run bash bench/peer_setup.sh")

    frames = [
        {
            "label": label,
            "center_real": cx,
            "center_imag": cy,
            "span": span,
            "width": args.width,
            "height": args.height,
            "max_iter": args.max_iter,
        }
        for label, cx, cy, span in LOCATIONS
    ]
    bla_warm_up()
    print(f"{os.cpu_count()} CPUs, {args.threads} threads each side, best of {args.repeats}")
    # Frame by frame, ours then theirs: on a shared machine, both meet the same load.
    mine, theirs = [], []
    with tempfile.TemporaryDirectory(prefix="peer-counts-") as counts_dir:
        for frame in frames:
            print(f"ours: {frame['label']}", flush=True)
            mine.append(ours(frame, args.threads, args.repeats))
            report = peer([frame], args, counts_dir)
            (entry,) = report["frames"]
            theirs.append(
                {
                    ("on" if run["bla"] else "off"): {
                        **run,
                        "counts": np.load(run["counts_file"]),
                    }
                    for run in entry["runs"]
                }
            )

    print(
        f"\nOurs: render_bla (BLA eps 2**-53); fractalshades {report['version']} "
        f"(numba {report['numba']}, numpy {report['numpy']}): Perturbation_mandelbrot, "
        f"BLA_eps {args.peer_bla_eps:g} and BLA off; {args.threads} threads; reference "
        "and BLA table times apart, compile excluded. ratio = peer s / our s "
        "(> 1: ours faster)"
    )
    header = (
        f"{'location':20} {'size':>8} {'limit':>5} {'our s':>7} {'peer s':>7} {'ratio':>6} "
        f"{'our Mpix-it/s':>13} {'peer Mpix-it/s':>14} {'peer off s':>10} "
        f"{'peer off Mpix-it/s':>18}"
    )
    print(header)
    print("-" * len(header))
    for frame, m, t in zip(frames, mine, theirs, strict=True):
        on, off = t.get("on"), t.get("off")
        size = f"{frame['width']}x{frame['height']}"
        our_rate = m["pixel_iterations"] / m["seconds"] / 1e6
        on_s = f"{on['seconds']:7.3f}" if on else f"{'':>7}"
        ratio = f"{on['seconds'] / m['seconds']:6.2f}" if on else f"{'':>6}"
        on_rate = f"{on['mpix_it_per_s']:14.1f}" if on else f"{'':>14}"
        off_s = f"{off['seconds']:10.3f}" if off else f"{'':>10}"
        off_rate = f"{off['mpix_it_per_s']:18.1f}" if off else f"{'':>18}"
        print(
            f"{frame['label']:20} {size:>8} {frame['max_iter']:5d} {m['seconds']:7.3f} "
            f"{on_s} {ratio} {our_rate:13.1f} {on_rate} {off_s} {off_rate}"
        )

    print(
        "\nSetup and agreement. ref/table: reference orbit and BLA table seconds (theirs: "
        "ball method + Newton + MPFR orbit; BLA tree). Mpix-it: effective pixel-"
        "iterations each side. counts: fractalshades' escape counts against ours, "
        "pixel by pixel (equal, within 1, largest difference, pixels inside for one only). "
        "ref order: the period of the nucleus fractalshades' Newton search took as "
        "reference (-: none, the centre). xr: its extended-range path (dx < 1e-300). "
        "tiles / thr: its 200x200 tiles and the most it computed at once. over: pixels it "
        "stopped past max_iter (a BLA step overshooting; counted as max_iter)"
    )
    header = (
        f"{'location':20} {'BLA':>3} {'our ref':>7} {'our tab':>7} {'peer ref':>8} "
        f"{'peer tab':>8} {'our Mpix-it':>11} {'peer Mpix-it':>12} {'equal':>7} "
        f"{'within 1':>8} {'max':>5} {'in ours':>7} {'in theirs':>9} {'ref order':>9} "
        f"{'xr':>3} {'tiles':>5} {'thr':>3} {'over':>6}"
    )
    print(header)
    print("-" * len(header))
    for frame, m, t in zip(frames, mine, theirs, strict=True):
        for mode, run in t.items():
            agree = agreement(m["counts"], run["counts"], frame["max_iter"])
            table_s = f"{run['table_seconds']:8.3f}" if run["table_seconds"] else f"{'':>8}"
            print(
                f"{frame['label']:20} {mode:>3} {m['reference_seconds']:7.3f} "
                f"{m['table_seconds']:7.3f} {run['reference_seconds']:8.3f} {table_s} "
                f"{m['pixel_iterations'] / 1e6:11.2f} {run['pixel_iterations'] / 1e6:12.2f} "
                f"{agree['equal']:7.2%} {agree['within1']:8.2%} {agree['max_abs']:5d} "
                f"{agree['inside_only_ours']:7d} {agree['inside_only_theirs']:9d} "
                f"{run['reference']['order'] or '-':>9} "
                f"{'yes' if run['extended_range'] else 'no':>3} {run['tiles']:5d} "
                f"{run['tile_threads']:3d} {run['overshoot_pixels']:6d}"
            )

    if args.samples:
        print("\nSample pixels (row 0 = lowest imaginary part): our count / peer count (BLA on)")
        for frame, m, t in zip(frames, mine, theirs, strict=True):
            run = t.get("on") or t.get("off")
            height, width = m["counts"].shape
            picks = [
                (height // 2, width // 2),
                (0, 0),
                (height - 1, width - 1),
                (height // 4, 3 * width // 4),
                (3 * height // 4, width // 4),
            ][: args.samples]
            cells = ", ".join(
                f"({r},{c}) {m['counts'][r, c]}/{run['counts'][r, c]}" for r, c in picks
            )
            print(f"  {frame['label']:20} {cells}")


if __name__ == "__main__":
    main()
