"""Deep frames rendered by the peer package fractalshades, timed like ``bench/deep.py``.

Runs in its own virtual environment, never the project's (``bench/peer_setup.sh`` makes
it): ``.venv-peer/bin/python bench/peer_fractalshades.py --json --frame CX CY SPAN W H N``
(``--frame`` may be repeated) or ``--frames FILE.json`` (a list of objects with keys
``label``, ``center_real``, ``center_imag``, ``span``, ``width``, ``height``,
``max_iter``). Centres and spans are decimal strings.

Each frame is rendered by ``fractalshades.models.Perturbation_mandelbrot`` (perturbation
with a full-precision reference; its bilinear approximation, BLA, on and off) through
its own tile driver (``calc_std_div`` then ``calc_raw``), in a temporary directory, and
timed in three parts:

- warm-up: the same instance first renders a tiny frame (same centre, span, ``max_iter``
  and options), which compiles every numba function the real frame calls (fractalshades
  builds its iteration kernel per instance from closures, so a warm-up on another
  instance would not help). Reported, not counted.
- setup (``calc_std_div``): the reference orbit (``get_FP_orbit``: ball method, Newton
  search for a nucleus, then MPFR iterations; recomputed for the real frame, and timed
  apart as "reference") and the BLA tree (``get_BLA_tree``, timed apart as "table").
- the calculation (``calc_raw``): every tile iterated by numba on a thread pool, counts
  written to fractalshades' memory-mapped result files. This is "seconds", best of
  ``--repeats`` (each repeat is a new calculation name, so nothing is reused but the
  reference orbit, as fractalshades itself does).

Same frame as ours: fractalshades' ``dx`` is the distance between the first and last
pixel *centres* (pixel ``i`` lies at ``(i / (nx - 1) - 1/2) dx``) and its ``xy_ratio``
sets both ``ny = round(nx / xy_ratio)`` and ``dy = dx / xy_ratio``; ours spans ``span``
edge to edge with square pixels ``span / width`` wide. So ``dx = span (W - 1) / W`` and
``xy_ratio = (W - 1) / (H - 1)`` give the same pixel centres (checked: ``ny == H``).
The escape radius is ours (256) unless ``--escape-radius`` says otherwise.

Effective pixel-iterations are exact: fractalshades' ``stop_iter`` array holds each
pixel's iteration count at exit (BLA-skipped iterations included), ``max_iter`` for
pixels that never escaped (with BLA, a few more: its last BLA step may overshoot
``max_iter``; those are counted as ``max_iter`` and reported as "overshoot").
``--counts-dir`` saves them (``int32``, shape ``(H, W)``, row 0 the lowest imaginary
part, as ours) for a pixel-by-pixel comparison.

Threads: fractalshades runs its tiles on a ``ThreadPoolExecutor`` of ``os.cpu_count()``
workers (its numba kernels release the GIL; it uses no numba ``parallel``). ``--threads``
caps that pool (and sets ``NUMBA_NUM_THREADS`` too); the most tiles computed at once
is reported as the threads used. Tiles are ``fs.settings.chunk_size`` (200) pixels
square, so a 400x300 frame has 4 tiles of unequal cost.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--frame",
        nargs=6,
        action="append",
        metavar=("CX", "CY", "SPAN", "WIDTH", "HEIGHT", "MAX_ITER"),
        help="a frame: centre (decimal strings), span along the real axis, size, max_iter",
    )
    parser.add_argument("--frames", type=Path, help="a JSON file: a list of frames")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bla", choices=("on", "off", "both"), default="both")
    parser.add_argument(
        "--bla-eps", type=float, default=1e-6, help="BLA_eps (fractalshades' default 1e-6)"
    )
    parser.add_argument("--escape-radius", type=float, default=256.0)
    parser.add_argument(
        "--no-newton",
        action="store_true",
        help="reference at the frame's centre (fs.settings.no_newton) instead of "
        "fractalshades' default, a nucleus found by ball method and Newton search",
    )
    parser.add_argument("--warmup-width", type=int, default=16)
    parser.add_argument("--counts-dir", type=Path, help="save each frame's counts here")
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    args = parser.parse_args()
    frames = []
    if args.frames:
        frames.extend(json.loads(args.frames.read_text()))
    for i, (cx, cy, span, width, height, max_iter) in enumerate(args.frame or []):
        frames.append(
            {
                "label": f"frame {i}",
                "center_real": cx,
                "center_imag": cy,
                "span": span,
                "width": int(width),
                "height": int(height),
                "max_iter": int(max_iter),
            }
        )
    if not frames:
        parser.error("no frame: give --frame or --frames")
    for frame in frames:
        if frame["width"] < 2 or frame["height"] < 2:
            parser.error(f"{frame['label']}: fractalshades needs at least 2x2 pixels")
    args.frame_list = frames
    return args


ARGS = parse_args()
# Before numba is imported: its thread count is read once.
os.environ["NUMBA_NUM_THREADS"] = str(ARGS.threads)

import fractalshades as fs  # noqa: E402
import fractalshades.models as fsm  # noqa: E402
import fractalshades.mthreading  # noqa: E402
import mpmath  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402


class _FixedCpuCount:
    """``os`` as fractalshades' thread pool sees it: ``cpu_count()`` is ``--threads``."""

    def __init__(self, count: int) -> None:
        self._count = count

    def cpu_count(self) -> int:
        return self._count

    def __getattr__(self, name: str):
        return getattr(os, name)


fractalshades.mthreading.os = _FixedCpuCount(ARGS.threads)
fs.settings.enable_multithreading = True
fs.settings.no_newton = ARGS.no_newton
# fractalshades.set_log_handlers fails below its "debug" verbosity (1.2.1): set it here.
_log = logging.getLogger("fractalshades")
_log.handlers.clear()
_log.addHandler(logging.StreamHandler(sys.stderr))
_log.setLevel(logging.WARNING)


def precision_digits(span: str, width: int) -> int:
    """Decimal digits for the reference: ours uses ``-log2(span) + 80`` bits (about 24
    digits past the span); at least what ``zoom`` requires (a tenth of a pixel / nx)."""
    with mpmath.workdps(30):
        depth = -mpmath.log10(mpmath.mpf(span))
        required = int(depth + 2 * math.log10(width) + 1) + 1
    return max(int(mpmath.ceil(depth)) + 24, required, 20)


class Timed:
    """Wraps an instance's method, recording each call's duration."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.calls: list[float] = []

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.calls.append(time.perf_counter() - start)


def read_counts(f, calc_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``stop_iter`` and ``stop_reason`` as ``(ny, nx)`` images, row 0 the lowest
    imaginary part. fractalshades stores them tile by tile, each tile's pixels row-major
    from its top row (``chunk_pixel_pos``: ``meshgrid(x, -y)``)."""
    stop_iter = f.get_data_memmap(calc_name, "stop_iter", mode="r")
    stop_reason = f.get_data_memmap(calc_name, "stop_reason", mode="r")
    counts = np.empty((f.ny, f.nx), dtype=np.int32)
    reasons = np.empty((f.ny, f.nx), dtype=np.int8)
    for chunk in f.chunk_slices():
        ix, ixx, iy, iyy = chunk
        beg, end = f.compressed_beg_end(calc_name, f.chunk_rank(chunk))
        counts[iy:iyy, ix:ixx] = np.asarray(stop_iter[0, beg:end]).reshape(iyy - iy, ixx - ix)
        reasons[iy:iyy, ix:ixx] = np.asarray(stop_reason[0, beg:end]).reshape(iyy - iy, ixx - ix)
    return counts[::-1].copy(), reasons[::-1].copy()


def render(frame: dict, bla: bool, workdir: str) -> dict:
    width, height, max_iter = frame["width"], frame["height"], frame["max_iter"]
    span = frame["span"]
    digits = precision_digits(span, width)
    xy_ratio = (width - 1) / (height - 1)
    with mpmath.workdps(digits):
        dx = mpmath.mpf(span) * (width - 1) / width
    calc = {
        "subset": None,
        "max_iter": max_iter,
        "M_divergence": ARGS.escape_radius,
        "epsilon_stationnary": 1e-3,  # unused: interior_detect is off
        "BLA_eps": ARGS.bla_eps if bla else None,
        "interior_detect": False,
        "calc_dzndc": False,  # no derivative: ours computes none either
    }

    f = fsm.Perturbation_mandelbrot(workdir)
    reference = f.get_FP_orbit = Timed(f.get_FP_orbit)
    table = f.get_BLA_tree = Timed(f.get_BLA_tree)
    # Threads at work: the most tiles computing at once (each calc_raw has a new pool).
    lock = threading.Lock()
    busy = {"now": 0, "peak": 0}
    cycle_call = f.numba_cycle_call

    def counted_cycle_call(*args):
        with lock:
            busy["now"] += 1
            busy["peak"] = max(busy["peak"], busy["now"])
        try:
            return cycle_call(*args)
        finally:
            with lock:
                busy["now"] -= 1

    f.numba_cycle_call = counted_cycle_call

    def zoom(nx: int) -> None:
        f.zoom(
            precision=digits,
            x=frame["center_real"],
            y=frame["center_imag"],
            dx=dx,
            nx=nx,
            xy_ratio=xy_ratio,
            theta_deg=0.0,
            projection=fs.projection.Cartesian(),
        )

    # Warm-up: a tiny frame, same everything else, on this instance (see the docstring).
    start = time.perf_counter()
    zoom(ARGS.warmup_width)
    f.calc_std_div(calc_name="warmup", **calc)
    f.calc_raw("warmup")
    warmup_seconds = time.perf_counter() - start

    # The real frame recomputes its reference, timed: drop the one the warm-up stored.
    os.remove(f.ref_point_file())
    for cached in ("_FP_params", "_Zn_path"):  # fractalshades' in-memory copies
        vars(f).pop(cached, None)
    reference.calls.clear()
    table.calls.clear()
    busy["peak"] = 0
    zoom(width)
    if f.ny != height:
        raise RuntimeError(f"fractalshades made {f.nx}x{f.ny} for {width}x{height}")

    setups, times = [], []
    for k in range(ARGS.repeats):
        name = f"frame{k}"
        start = time.perf_counter()
        f.calc_std_div(calc_name=name, **calc)
        setups.append(time.perf_counter() - start)
        start = time.perf_counter()
        f.calc_raw(name)
        times.append(time.perf_counter() - start)
    counts, reasons = read_counts(f, name)
    if not np.isin(reasons, (0, 1)).all():
        raise RuntimeError(f"unexpected stop reasons {np.unique(reasons)}")
    # With BLA, a pixel that never escapes can stop past max_iter (a BLA step is taken
    # whole, the max_iter test follows the next iteration): such a pixel counts max_iter.
    overshoot = counts > max_iter
    overshoot_max = int(counts.max()) - max_iter if overshoot.any() else 0
    counts = np.minimum(counts, max_iter)
    work = float(counts.sum(dtype=np.int64))
    best = min(times)
    params = f.FP_params
    with mpmath.workdps(digits):
        shift = (params["ref_point"] - mpmath.mpc(f.x, f.y)) / (dx / (width - 1))
    result = {
        "bla": bla,
        "bla_eps": calc["BLA_eps"],
        "seconds": best,
        "times": times,
        "warmup_seconds": warmup_seconds,
        "reference_seconds": reference.calls[0],
        "table_seconds": table.calls[0] if table.calls else None,
        "setup_seconds": setups[0],
        "setup_seconds_reused_reference": setups[1:],
        "pixel_iterations": work,
        "pixel_iterations_exact": True,
        "mpix_it_per_s": work / best / 1e6,
        "overshoot_pixels": int(overshoot.sum()),
        "overshoot_max": overshoot_max,
        "escaped_pixels": int((reasons == 1).sum()),
        "interior_pixels": int((reasons == 0).sum()),
        "tile_threads": busy["peak"],
        "tiles": f.chunks_count,
        "extended_range": bool(f.xr_detect_activated),
        "reference": {
            "order": params["order"],
            "div_iter": params["div_iter"],
            "newton": not ARGS.no_newton,
            "offset_pixels": [float(shift.real), float(shift.imag)],
            "digits": digits,
        },
        "dx": mpmath.nstr(dx, 20),
        "xy_ratio": xy_ratio,
    }
    if ARGS.counts_dir:
        ARGS.counts_dir.mkdir(parents=True, exist_ok=True)
        slug = "".join(ch if ch.isalnum() else "_" for ch in frame["label"])
        path = ARGS.counts_dir / f"{slug}-bla-{'on' if bla else 'off'}.npy"
        np.save(path, counts)
        result["counts_file"] = str(path)
    return result


def main() -> None:
    modes = {"on": (True,), "off": (False,), "both": (True, False)}[ARGS.bla]
    results = []
    # fractalshades' Cython reference loop prints progress with C's printf: send file
    # descriptor 1 to stderr while it runs, so that stdout carries only the report.
    sys.stdout.flush()
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        with tempfile.TemporaryDirectory(prefix="fractalshades-") as tmp:
            for i, frame in enumerate(ARGS.frame_list):
                entry = {**frame, "runs": []}
                for bla in modes:
                    workdir = os.path.join(tmp, f"{i}-{'bla' if bla else 'nobla'}")
                    entry["runs"].append(render(frame, bla, workdir))
                results.append(entry)
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
        os.close(stdout)
    report = {
        "package": "fractalshades",
        "version": fs.__version__,
        "numba": numba.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": ARGS.threads,
        "cpu_count": os.cpu_count(),
        "chunk_size": fs.settings.chunk_size,
        "escape_radius": ARGS.escape_radius,
        "frames": results,
    }
    if ARGS.json:
        json.dump(report, sys.stdout, indent=1)
        print()
        return
    print(
        f"fractalshades {report['version']}, numba {report['numba']}, "
        f"{ARGS.threads} threads, best of {ARGS.repeats}"
    )
    header = (
        f"{'frame':22} {'size':>9} {'limit':>5} {'BLA':>3} {'ref s':>6} {'table s':>7} "
        f"{'Mpix-it':>8} {'seconds':>8} {'Mpix-it/s':>9} {'warm-up s':>9}"
    )
    print(header)
    print("-" * len(header))
    for entry in results:
        size = f"{entry['width']}x{entry['height']}"
        for run in entry["runs"]:
            table_s = f"{run['table_seconds']:7.3f}" if run["table_seconds"] else f"{'':>7}"
            print(
                f"{entry['label']:22} {size:>9} {entry['max_iter']:5d} "
                f"{'on' if run['bla'] else 'off':>3} {run['reference_seconds']:6.3f} {table_s} "
                f"{run['pixel_iterations'] / 1e6:8.1f} {run['seconds']:8.3f} "
                f"{run['mpix_it_per_s']:9.1f} {run['warmup_seconds']:9.2f}"
            )


if __name__ == "__main__":
    main()
