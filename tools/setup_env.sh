#!/usr/bin/env bash
# Bring up the project's virtualenv (.venv) with the pinned OpenMMLab stack.
#
# Idempotent: a stamp inside .venv records the hash of every input that decides
# what gets installed; when it matches, nothing is installed or built again.
# mmcv 2.1.0 has no wheels for torch 2.14, so it is built once per machine from
# its sdist (C++ ops, CPU) and the wheel is kept in a cache outside the repo,
# keyed by mmcv, torch and Python versions. After installing, mmcv.ops is
# imported to prove the wheel matches the installed torch.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMSHUFFLE_VENV:-$ROOT/.venv}"
PY_BOOT="${PYTHON:-python3}"
CACHE="${MMSHUFFLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmshuffle}"
MMCV_VERSION=2.1.0

log() { printf '[setup_env] %s\n' "$*" >&2; }

stamp_inputs() {
    cat "$ROOT/requirements.txt" "$ROOT/setup.py" "$ROOT/tools/setup_env.sh"
    "$PY_BOOT" -c 'import sys; print(sys.version)'
}
STAMP_HASH="$(stamp_inputs | sha256sum | cut -c1-16)"
STAMP="$VENV/.mmshuffle-env-$STAMP_HASH"

if [[ -f "$STAMP" ]]; then
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    "$PY_BOOT" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --progress-bar off)

req_line() { grep -E "^$1==" "$ROOT/requirements.txt" | head -n1; }

log "installing torch, torchvision and build tools"
"${PIP[@]}" "$(req_line torch)" "$(req_line torchvision)" \
    'setuptools<81' wheel ninja psutil 'numpy>=2.0,<3' >&2

TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__)')"
PY_TAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
KEY="mmcv-${MMCV_VERSION}_torch-${TORCH_VERSION}_${PY_TAG}_$(uname -m)"
WHEEL_DIR="$CACHE/wheels/$KEY"

mmcv_ops_ok() {
    "$PY" - <<'PY' >/dev/null 2>&1
import mmcv
from mmcv.ops import nms, RoIAlign  # noqa: F401
assert mmcv.__version__ == "2.1.0", mmcv.__version__
PY
}

build_mmcv() {
    local work
    work="$(mktemp -d)"
    log "building mmcv $MMCV_VERSION with C++ ops against torch $TORCH_VERSION (about 10 minutes on 2 cores)"
    "$PY" -m pip download --disable-pip-version-check --no-deps --no-binary :all: \
        "mmcv==$MMCV_VERSION" -d "$work" >&2
    tar -xzf "$work"/mmcv-"$MMCV_VERSION".tar.gz -C "$work"
    local src="$work/mmcv-$MMCV_VERSION"
    # torch >= 2.8 headers require C++20; mmcv 2.1.0 hard-codes C++17.
    grep -q -- "-std=c++17" "$src/setup.py"
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    mkdir -p "$work/out"
    (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" \
        "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps \
        -w "$work/out" . >&2)
    mkdir -p "$WHEEL_DIR.tmp.$$"
    cp "$work"/out/mmcv-*.whl "$WHEEL_DIR.tmp.$$/"
    rm -rf "$WHEEL_DIR"
    mv "$WHEEL_DIR.tmp.$$" "$WHEEL_DIR"   # atomic: a half-built cache never exists
    rm -rf "$work"
}

if ! compgen -G "$WHEEL_DIR/mmcv-*.whl" >/dev/null; then
    build_mmcv
else
    log "reusing cached mmcv wheel $WHEEL_DIR"
fi
"${PIP[@]}" --force-reinstall --no-deps "$WHEEL_DIR"/mmcv-*.whl >&2

log "installing the pinned OpenMMLab stack and test tools"
"${PIP[@]}" -r "$ROOT/requirements.txt" >&2
if ! mmcv_ops_ok; then
    log "ERROR: mmcv.ops does not import with torch $TORCH_VERSION; removing the cached wheel $WHEEL_DIR"
    rm -rf "$WHEEL_DIR"
    exit 1
fi
log "installing mmshuffle (editable)"
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT" >&2
# mmengine 0.10 looks up `mmshuffle::` configs in <site-packages>/mmshuffle/.mim
# (next to the package's metadata). A PEP 660 editable install has no folder
# there, so link the source package in (the same files the install imports).
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [[ ! -e "$SITE/mmshuffle" || -L "$SITE/mmshuffle" ]]; then
    ln -sfn "$ROOT/mmshuffle" "$SITE/mmshuffle"
fi

"$PY" - <<'PY'
import mmcv, mmdet, mmengine, mmpretrain, torch, torchvision
from mmcv.ops import nms, RoIAlign  # noqa: F401
import mmshuffle  # noqa: F401
import warnings
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
from mmengine.hub import get_config  # the `mmshuffle::` lookup works
get_config("mmshuffle::shufflenet_v2/shufflenet-v2-1x_16xb64_in1k.py")
print(f"[setup_env] torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, "
      f"mmdet {mmdet.__version__}, mmpretrain {mmpretrain.__version__}")
PY
rm -f "$VENV"/.mmshuffle-env-*
touch "$STAMP"
