#!/usr/bin/env bash
# Renders a planDir with N `vre work` processes started by GNU parallel, locally or over ssh on
# hosts that share the planDir at the same path, then assembles:
#
#   examples/parallel.sh job.vre out.mp4 4                  4 local workers
#   examples/parallel.sh /shared/job.vre /shared/out.mp4 8 2/node1,2/node2,4/node3
#                                                           8 workers: 2 on node1, 2 on node2, 4 on node3
#
# Each worker claims the chunk of its index first and then any chunk still free, so every one
# of them keeps going until all chunks are done; a worker that fails leaves its chunk to the
# others. Over ssh, vre and ffmpeg must be on each host's PATH and the planDir on a filesystem
# whose locks exclude across hosts (README.md: "Shared filesystems"; check with `vre doctor`).
# The exit code is vre's (README.md: "Exit codes"): assembly refuses with 75 if a worker could
# not finish; run the script again to resume. An existing OUT is never replaced (exit 73): remove
# it first, or set VRE_OVERWRITE=1 to replace it.
set -euo pipefail
plan_dir=${1:?usage: parallel.sh PLANDIR OUT [WORKERS [SSHLOGINS]]}
out=${2:?usage: parallel.sh PLANDIR OUT [WORKERS [SSHLOGINS]]}
workers=${3:-$(nproc)}
hosts=${4:-:} # GNU parallel's name for the local host
vre=${VRE:-vre}

# Locally exactly WORKERS at once; over ssh as many per host as its N/ prefix says.
slots=$([[ $hosts == : ]] && echo "$workers" || echo 100%)
failed=0
seq 0 $((workers - 1)) | parallel --jobs "$slots" --sshlogin "$hosts" --line-buffer --tag \
    "$vre" work "$plan_dir" --index {} || failed=$?
if ((failed)); then
    # parallel's exit code counts the failed workers; the others may still have done it all.
    echo "parallel.sh: $failed worker(s) failed; assembling what is there" >&2
fi
overwrite=()
[[ -z ${VRE_OVERWRITE:-} ]] || overwrite=(--overwrite)
exec "$vre" assemble "$plan_dir" -o "$out" "${overwrite[@]}"
