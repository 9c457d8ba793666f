#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine for the `slurm` tests.
#
# Idempotent: a second call finds the controller answering and the node up, and exits.
# Installs Debian's slurm-wlm + munge when missing, writes a one-node slurm.conf sized from
# `slurmd -C`, creates a munge key, then starts munged, slurmctld and slurmd directly
# (containers have no systemd) and waits until `sinfo` shows the node idle.
#
# Accounting: there is no slurmdbd here, so `sacct` cannot answer (it needs a database).
# Instead every finished job is appended by `JobCompType=jobcomp/filetxt` to
# $NEUROKIT_SLURM_JOBCOMP (default /var/log/slurm/jobcomp.log), one line per job with
# JobId=, JobName=, JobState=; running jobs are seen with `squeue`. The tests use both.
#
# Exit status: 0 when SLURM is up, 1 when it could not be started (the caller decides;
# .ci/run goes on and the slurm tests skip with the reason).
set -uo pipefail

JOBCOMP="${NEUROKIT_SLURM_JOBCOMP:-/var/log/slurm/jobcomp.log}"
CONF=/etc/slurm/slurm.conf
LOG_DIR=/var/log/slurm
say() { echo "[slurm_setup] $*"; }

node_idle() {
    # 'idle' or 'mixed'/'allocated' all mean the node accepts work; a drained or down node does not.
    local state
    state="$(sinfo -h -N -o '%T' 2>/dev/null | head -n1)"
    [[ "$state" =~ ^(idle|mixed|allocated|completing)$ ]]
}

if command -v sinfo >/dev/null 2>&1 && scontrol ping 2>/dev/null | grep -q 'is UP' && node_idle; then
    say "SLURM already running: $(sinfo -h -N -o '%N %T %c CPUs %m MB')"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    say "needs root to install and start SLURM; skipping (slurm tests will skip)."
    exit 1
fi

# 1. packages
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v slurmd >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    say "installing slurm-wlm and munge from Debian"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge; } >/tmp/slurm_setup_apt.log 2>&1; then
        say "apt-get install failed (see /tmp/slurm_setup_apt.log):"
        tail -n 5 /tmp/slurm_setup_apt.log
        exit 1
    fi
fi

# 2. munge: a key, its directories, the daemon (as the munge user, as it insists)
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    old_pid="$(cat /run/munge/munged.pid 2>/dev/null || true)"
    [ -n "$old_pid" ] && kill "$old_pid" 2>/dev/null
    runuser -u munge -- /usr/sbin/munged || { say "munged did not start"; exit 1; }
    for _ in $(seq 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.25; done
fi
if ! munge -n | unmunge >/dev/null 2>&1; then
    say "munge does not work"
    exit 1
fi

# 3. slurm.conf for this one machine, sized by slurmd itself (a mismatch would drain the node)
HOST="$(hostname -s)"
NODE_LINE="$(slurmd -C 2>/dev/null | head -n1)"
if [ -z "$NODE_LINE" ]; then
    NODE_LINE="NodeName=$HOST CPUs=$(nproc) RealMemory=$(free -m | awk '/^Mem:/{print $2}')"
fi
# keep ~5% of the memory for the OS so slurmd never reports less than configured
REAL_MEM="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$NODE_LINE")"
NODE_LINE="$(sed "s/RealMemory=[0-9]*/RealMemory=$((REAL_MEM * 95 / 100))/" <<<"$NODE_LINE") NodeAddr=127.0.0.1 State=UNKNOWN"
mkdir -p /etc/slurm "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd "$(dirname "$JOBCOMP")"
cat >"$CONF" <<EOF
# Written by neurokit's .ci/slurm_setup.sh: a single-node test cluster on $HOST.
ClusterName=neurokit-ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# no cgroups or systemd in a container: track processes through /proc, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SwitchType=switch/none
# several small jobs share the node, each with its cores and memory
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# no slurmdbd: finished jobs are logged as text (see the header of .ci/slurm_setup.sh)
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$JOBCOMP
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=5
MinJobAge=300
$NODE_LINE
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

# 4. the daemons (restart whatever half-started before)
for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; sleep 1; fi
done
/usr/sbin/slurmctld -c || { say "slurmctld did not start; see $LOG_DIR/slurmctld.log"; tail -n 20 "$LOG_DIR/slurmctld.log"; exit 1; }
/usr/sbin/slurmd || { say "slurmd did not start; see $LOG_DIR/slurmd.log"; tail -n 20 "$LOG_DIR/slurmd.log"; exit 1; }

for _ in $(seq 60); do
    if node_idle; then
        say "SLURM is up: $(sinfo -h -N -o '%N %T %c CPUs %m MB partition %P')"
        say "check with: sinfo; squeue; scontrol show job JOBID; cat $JOBCOMP"
        exit 0
    fi
    sleep 1
done
say "the node did not become idle within 60 s:"
sinfo -N -l 2>&1 | tail -n 5
tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" 2>/dev/null
exit 1
