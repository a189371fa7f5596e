#!/usr/bin/env bash
# Makes .venv-peer: the peer package fractalshades for bench/peer.py, in a virtual
# environment of its own, never a dependency of the project. Idempotent: a second run
# checks and returns. Run from anywhere: `bash bench/peer_setup.sh`.
#
# fractalshades ships an sdist only; its setup.py imports gmpy2, numpy and Cython and
# compiles a Cython module (mpmath_utils/FP_loop.pyx, its full-precision reference loop)
# against GMP, MPFR and MPC. So: Debian's libgmp-dev, libmpfr-dev and libmpc-dev; numpy,
# setuptools, wheel, Cython and gmpy2 in the venv (Cython from PyPI: Debian's cython3
# serves /usr/bin/python3 only, not this venv's interpreter); then
# `pip install --no-build-isolation` (setup.py needs gmpy2's headers from the venv).
#
# The patch (NumPy >= 2.4, where converting a 1-element 1-d array to a float raises
# "TypeError: only 0-dimensional arrays can be converted to Python scalars", formerly a
# DeprecationWarning): FP_loop.pyx line 398, in the reference loop, assigns
# `abs(candidate_partial.to_standard())`, a shape-(1,) array, to the C double
# `curr_partial`. It runs whenever a reference orbit comes within 1e-5 of 0 (e.g. a
# reference at a nucleus iterated past its period), so that reference raises. `.item()`
# makes it a scalar, the value unchanged. The line is compiled into FP_loop.*.so at
# install, so editing the installed .pyx would change nothing: the sed edits the
# unpacked sdist, which is then built and installed (the installed .pyx carries it too).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.venv-peer
PYTHON=${PYTHON:-python3}
VERSION=1.2.1
STAMP=$VENV/.fractalshades-$VERSION-patched
PIP=(nice -n 19 "$VENV/bin/python" -m pip --disable-pip-version-check --quiet)

installed() {
    [ -f "$STAMP" ] && "$VENV/bin/python" - "$VERSION" <<'EOF' 2>/dev/null
import pathlib, sys
import fractalshades, fractalshades.mpmath_utils.FP_loop as loop
assert fractalshades.__version__ == sys.argv[1]
pyx = pathlib.Path(loop.__file__).with_name("FP_loop.pyx").read_text()
assert "candidate_partial.to_standard().item()" in pyx
EOF
}

if installed; then
    echo "$VENV: fractalshades $VERSION (patched) already installed"
    exit 0
fi

missing=()
for pkg in libgmp-dev libmpfr-dev libmpc-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
rm -f "$STAMP"
"${PIP[@]}" install --upgrade pip setuptools wheel
"${PIP[@]}" install numpy Cython gmpy2

BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
"${PIP[@]}" download --no-deps --no-build-isolation --no-binary fractalshades \
    --dest "$BUILD" "fractalshades==$VERSION"
tar -xzf "$BUILD/fractalshades-$VERSION.tar.gz" -C "$BUILD"
PYX=$BUILD/fractalshades-$VERSION/src/fractalshades/mpmath_utils/FP_loop.pyx
sed -i 's/curr_partial = abs(candidate_partial\.to_standard())$/curr_partial = abs(candidate_partial.to_standard().item())/' "$PYX"
grep -q 'curr_partial = abs(candidate_partial.to_standard().item())$' "$PYX" || {
    echo "peer_setup.sh: the FP_loop.pyx line to patch was not found" >&2
    exit 1
}
# An unpatched copy (an interrupted run) must go: pip would keep it as "satisfied".
"${PIP[@]}" uninstall --yes fractalshades 2>/dev/null || true
# With its runtime dependencies (numba, mpmath, Pillow, PyQt6, pygments) from PyPI.
"${PIP[@]}" install --no-build-isolation "$BUILD/fractalshades-$VERSION"
touch "$STAMP"
installed
echo "$VENV: fractalshades $VERSION installed, FP_loop.pyx patched for NumPy >= 2.4"
