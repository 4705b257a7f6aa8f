#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for tests and trials of ./run_all.sh --executor slurm.
#
#   tools/slurm_cluster.sh install      apt-get install slurm-wlm munge if missing (root; ~15 s)
#   tools/slurm_cluster.sh start DIR    munge key, munged, slurm.conf, slurmctld, slurmd, all in DIR
#                                       (created if missing); waits until the node is idle, then
#                                       prints the line to source: export SLURM_CONF=DIR/slurm.conf
#   tools/slurm_cluster.sh stop DIR     cancels the cluster's jobs, stops the daemons it started (by
#                                       the pids in DIR/*.pid: TERM, then KILL after 10 s)
#   tools/slurm_cluster.sh status DIR   the daemons' pids and whether they run, then sinfo
#
# Nothing outside DIR is written (apart from the packages): no /etc/slurm, no /etc/munge, no
# services. The daemons run as root in the foreground, each in its own session, on free ports on
# 127.0.0.1; no accounting daemon (slurmdbd): run_all.sh tracks its tasks with squeue, not sacct.
set -euo pipefail

die() { echo "slurm_cluster: $*" >&2; exit 1; }
DAEMONS=(slurmd slurmctld munged)

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null &&
    command -v munged >/dev/null; then
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "installing slurm-wlm and munge needs root"
  command -v apt-get >/dev/null || die "no apt-get: install slurm-wlm and munge with this system's package manager"
  # Debian's maintainer scripts would start system-wide munge/slurm services: forbid that for the
  # install (the usual policy-rc.d answer 101), unless a policy is already in place.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
  fi
  local packages=(slurm-wlm munge) status=0
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${packages[@]}" >/tmp/slurm_cluster_apt.log 2>&1 ||
    { apt-get update -q >>/tmp/slurm_cluster_apt.log 2>&1 &&
      apt-get install -y -q --no-install-recommends "${packages[@]}" >>/tmp/slurm_cluster_apt.log 2>&1; } ||
    status=$?
  [ "$own_policy" -eq 0 ] || rm -f "$policy"
  [ "$status" -eq 0 ] || die "apt-get install ${packages[*]} failed (log: /tmp/slurm_cluster_apt.log)"
}

free_port() {
  local py
  py=$(command -v python3 || command -v python) || die "python3 is needed to pick free ports"
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local dir=$1
  for d in "${DAEMONS[@]}"; do
    if [ -f "$dir/$d.pid" ] && kill -0 "$(cat "$dir/$d.pid")" 2>/dev/null; then
      die "$d already runs from $dir (pid $(cat "$dir/$d.pid")): stop it first"
    fi
  done
  command -v slurmctld >/dev/null || die "Slurm is not installed: run $0 install (as root)"
  [ "$(id -u)" -eq 0 ] || die "the test cluster runs its daemons as root"
  mkdir -p "$dir" && chmod 700 "$dir"
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  local node cpus mem_mb port_ctld port_d
  node=$(hostname -s)
  cpus=$(nproc)
  mem_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 512))
  port_ctld=$(free_port)
  port_d=$(free_port)
  [ "$port_ctld" != "$port_d" ] || port_d=$(free_port)

  dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge.key"
  cat >"$dir/slurm.conf" <<EOF
# single-node test cluster written by tools/slurm_cluster.sh
ClusterName=vaebench
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port_ctld
SlurmdPort=$port_d
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/log/slurmctld.pid
SlurmdPidFile=$dir/log/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=5
MinJobAge=600
InactiveLimit=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$dir/slurm.conf
  # foreground daemons, backgrounded here: $! is the daemon itself
  setsid munged -F --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
    --pid-file="$dir/log/munged.pid.own" --log-file="$dir/log/munged.log" --seed-file="$dir/munged.seed" \
    </dev/null >>"$dir/log/munged.out" 2>&1 &
  echo $! >"$dir/munged.pid"
  for _ in $(seq 50); do [ -S "$dir/munge.socket" ] && break; sleep 0.1; done
  [ -S "$dir/munge.socket" ] || die "munged did not start (log: $dir/log/munged.log)"
  setsid slurmctld -D -f "$dir/slurm.conf" </dev/null >>"$dir/log/slurmctld.out" 2>&1 &
  echo $! >"$dir/slurmctld.pid"
  setsid slurmd -D -f "$dir/slurm.conf" -N "$node" </dev/null >>"$dir/log/slurmd.out" 2>&1 &
  echo $! >"$dir/slurmd.pid"
  local state=""
  for _ in $(seq 120); do
    state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
    case "$state" in idle*) break ;; esac
    for d in "${DAEMONS[@]}"; do
      kill -0 "$(cat "$dir/$d.pid")" 2>/dev/null || die "$d exited (logs in $dir/log/)"
    done
    sleep 0.5
  done
  case "$state" in idle*) ;; *) die "node $node not idle after 60 s (state '${state}'; logs in $dir/log/)" ;; esac
  echo "export SLURM_CONF=$dir/slurm.conf"
}

stop() {
  local dir=$1
  [ -d "$dir" ] || die "no cluster folder $dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    SLURM_CONF=$dir/slurm.conf scancel --user="$(id -un)" --full 2>/dev/null || true
    for _ in $(seq 40); do # running jobs end (KillWait=5) before slurmd goes
      [ -z "$(SLURM_CONF=$dir/slurm.conf squeue -h -t R,CG,S -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  # slurmd and slurmctld together, then munged (they may still authenticate while shutting down)
  stop_pids "$dir" slurmd slurmctld
  stop_pids "$dir" munged
}

stop_pids() { # DIR NAME...: TERM the pids in DIR/NAME.pid, KILL what is left after 10 s
  local dir=$1 pids=() d pid
  shift
  for d in "$@"; do
    [ -f "$dir/$d.pid" ] || continue
    pid=$(cat "$dir/$d.pid")
    # that pid, and only while it still is that daemon (never a process that reused the number)
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$d" ]; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  for _ in $(seq 100); do
    local left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true; done
  for d in "$@"; do rm -f "$dir/$d.pid"; done
}

status() {
  local dir
  dir=$(cd "$1" && pwd)
  for d in "${DAEMONS[@]}"; do
    if [ -f "$dir/$d.pid" ] && kill -0 "$(cat "$dir/$d.pid")" 2>/dev/null; then
      echo "$d: running (pid $(cat "$dir/$d.pid"))"
    else
      echo "$d: not running"
    fi
  done
  SLURM_CONF=$dir/slurm.conf sinfo 2>/dev/null || true
}

case "${1:-}" in
  install) install ;;
  start) [ $# -eq 2 ] || die "usage: $0 start DIR"; install; start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
  status) [ $# -eq 2 ] || die "usage: $0 status DIR"; status "$2" ;;
  *) echo "usage: $0 install | start DIR | stop DIR | status DIR" >&2; exit 2 ;;
esac
