#!/usr/bin/env bash
# Evaluate CHECKPOINT on a slurm cluster: one task per GPU (GPUS in all,
# GPUS_PER_NODE per node). GPUS_PER_NODE=0 runs CPU tasks (gloo backend)
# without --gres.
#
#   [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=... PYTHON=...] \
#       tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT \
#       [tools/test.py options]
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [options]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
TOOLS=$(dirname "$0")
if [ -z "${PYTHON:-}" ]; then   # the project's .venv if there is one
    PYTHON=python
    if [ -x "$TOOLS/../.venv/bin/python" ]; then
        PYTHON="$TOOLS/../.venv/bin/python"
    fi
fi
GRES=()
TASKS_PER_NODE=()
if [ "$GPUS_PER_NODE" -gt 0 ]; then
    GRES=(--gres=gpu:"$GPUS_PER_NODE")
    TASKS_PER_NODE=(--ntasks-per-node="$GPUS_PER_NODE")
fi

# shellcheck disable=SC2086  # SRUN_ARGS holds several words
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    "${GRES[@]}" \
    --ntasks="$GPUS" \
    "${TASKS_PER_NODE[@]}" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" \
    --launcher=slurm "${@:5}"
