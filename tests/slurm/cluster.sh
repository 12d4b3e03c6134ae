#!/usr/bin/env bash
# A throwaway single-node Slurm cluster on localhost, for tests/slurm.rs (usable by hand too).
#
#   cluster.sh start DIR CTLD_PORT SLURMD_PORT   write DIR/slurm.conf, start munged, slurmctld and
#                                                slurmd; return once the node accepts jobs
#   cluster.sh stop DIR                          cancel its jobs, stop the daemons by their pid
#                                                files, kill whatever those daemons left running
#
# Clients talk to it with SLURM_CONF=DIR/slurm.conf; give jobs VRE_TEST_SLURM_CLUSTER=DIR in
# their environment (sbatch exports it) so that `stop` can find anything they leave behind even
# when the daemons are gone. Everything lives in DIR: a munge key of its own (so a munge setup
# already on the machine is neither used nor changed: /etc/munge is not touched), its own munge
# socket, Slurm state, spool, pid and log files. Needs root (slurmd runs jobs as their users).
# Every wait polls a real condition (a pid file, `scontrol ping`, the node's state, squeue)
# until a deadline.
set -euo pipefail

usage() {
    echo "usage: $0 start DIR CTLD_PORT SLURMD_PORT | stop DIR" >&2
    exit 64
}

# Polls `$@` until it succeeds or SECONDS passes $deadline; says what it waited for on failure.
wait_for() {
    local what=$1 limit=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            echo "cluster.sh: gave up after ${limit}s waiting for $what" >&2
            return 1
        fi
        sleep 0.1
    done
}

# Whether a process runs and is the program named (a stale pid file may name another process).
# Zombies count as gone.
runs() {
    local pid=$1 comm=$2 state
    [[ -r /proc/$pid/stat ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]] || return 1
    state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
    [[ $state != Z ]]
}

pid_from() {
    [[ -s $1 ]] && tr -dc 0-9 <"$1"
}

node_idle() {
    [[ $(sinfo -h -n "$node" -o %t) == idle ]]
}

munge_works() {
    munge -n -S "$dir/munge/munge.socket" | unmunge -S "$dir/munge/munge.socket"
}

no_jobs() {
    [[ -z $(squeue -h -o %i) ]]
}

gone() {
    local pid=$1 comm=$2
    ! runs "$pid" "$comm"
}

start() {
    mkdir -p "$dir"/{state,spool,log}
    # munged wants its socket directory reachable by everyone (execute permission all the way).
    chmod 711 "$dir"
    install -d -m 755 "$dir/munge"
    (
        umask 077
        head -c 128 /dev/urandom >"$dir/munge.key"
    )
    munged --key-file="$dir/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munged.seed"
    wait_for "munged" 20 munge_works

    cat >"$dir/slurm.conf" <<EOF
ClusterName=vretest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    slurmctld -f "$dir/slurm.conf"
    wait_for "slurmctld to answer" 30 scontrol ping
    slurmd -f "$dir/slurm.conf"
    wait_for "node $node to be idle" 30 node_idle
}

# Stops the daemon whose pid file is $1 (if it is still that program): SIGTERM, then SIGKILL.
stop_daemon() {
    local file=$1 comm=$2 pid
    pid=$(pid_from "$file") || return 0
    runs "$pid" "$comm" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for "$comm to exit" 15 gone "$pid" "$comm"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

# Processes of this cluster's jobs (job scripts and what they started) carry
# VRE_TEST_SLURM_CLUSTER=DIR in their environment: kill any that are left, and the slurmstepd
# that runs them.
kill_leftovers() {
    local pid env parent
    for env in /proc/[0-9]*/environ; do
        pid=${env#/proc/}
        pid=${pid%/environ}
        if { tr '\0' '\n' <"$env" | grep -qxF "VRE_TEST_SLURM_CLUSTER=$dir"; } 2>/dev/null; then
            parent=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f2) || parent=
            kill -KILL "$pid" 2>/dev/null || true
            if [[ -n $parent ]] && runs "$parent" slurmstepd; then
                kill -KILL "$parent" 2>/dev/null || true
            fi
        fi
    done
}

stop() {
    [[ -f $dir/slurm.conf ]] || return 0
    local ctld
    ctld=$(pid_from "$dir/slurmctld.pid") || ctld=
    if [[ -n $ctld ]] && runs "$ctld" slurmctld; then
        scancel --quiet --user=root 2>/dev/null || true
        wait_for "cancelled jobs to end" 20 no_jobs || true
    fi
    stop_daemon "$dir/slurmd.pid" slurmd
    stop_daemon "$dir/slurmctld.pid" slurmctld
    kill_leftovers
    stop_daemon "$dir/munged.pid" munged
}

(($# >= 2)) || usage
command=$1
dir=$(cd "$2" && pwd)
node=$(hostname -s)
export SLURM_CONF=$dir/slurm.conf
case $command in
start)
    (($# == 4)) || usage
    ctld_port=$3
    slurmd_port=$4
    start
    ;;
stop) stop ;;
*) usage ;;
esac
