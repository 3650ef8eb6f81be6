#!/usr/bin/env bash
# Train on NUM_PROCS processes of this machine (one per GPU; on a machine
# without GPUs, CPU processes with the gloo backend) with torchrun.
#
#   tools/dist_train.sh CONFIG NUM_PROCS [tools/train.py options]
#
# Several machines: run it on each with NNODES, NODE_RANK, MASTER_ADDR and
# the same PORT set. PYTHON selects the interpreter (default: the
# project's .venv/bin/python if there is one, else python).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NUM_PROCS [tools/train.py options]" >&2
    exit 2
fi
CONFIG=$1
NUM_PROCS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
TOOLS=$(dirname "$0")
if [ -z "${PYTHON:-}" ]; then   # the project's .venv if there is one
    PYTHON=python
    if [ -x "$TOOLS/../.venv/bin/python" ]; then
        PYTHON="$TOOLS/../.venv/bin/python"
    fi
fi

exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$NUM_PROCS" \
    "$TOOLS/train.py" "$CONFIG" --launcher pytorch "${@:3}"
