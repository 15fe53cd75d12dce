#!/usr/bin/env bash
# A single-node SLURM cluster on this machine for the tests (as root): installs slurm-wlm and munge where missing,
# writes a minimal slurm.conf (partitions cpu and gpu on this node, no accounting, no cgroups) and starts munged,
# slurmctld and slurmd. Does nothing where the node already answers. Stop it with down.sh.
set -euo pipefail
answers() { timeout 5 sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix|alloc"; }
if command -v sinfo >/dev/null && answers; then exit 0; fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
fi
[ -s /etc/munge/munge.key ] || { mungekey --create --force; chown munge:munge /etc/munge/munge.key; }
mkdir -p /run/munge /var/log/munge /var/lib/munge /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if [ -s /etc/slurm/slurm.conf ] && ! grep -q "^ClusterName=topograph$" /etc/slurm/slurm.conf; then
  echo "up.sh: /etc/slurm/slurm.conf is another cluster's: left as it is" >&2
  exit 1
fi
node=$(hostname -s)
memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
# MinJobAge: squeue (the status command without slurmdbd) sees a finished job for 10 minutes. EnforcePartLimits:
# sbatch refuses a job that asks for more than the node has (instead of queueing it forever). KillWait: a job's
# processes that outlive its SIGTERM are killed after 5 s (without cgroups SLURM kills only those it tracks).
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=topograph
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MpiDefault=none
ReturnToService=2
MinJobAge=600
EnforcePartLimits=ALL
KillWait=5
SchedulerParameters=sched_interval=1
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
CONF
pgrep -x munged >/dev/null || runuser -u munge -- munged
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 50); do answers && exit 0; sleep 0.2; done
echo "up.sh: the SLURM node did not come up (see /var/log/slurm/)" >&2
exit 1
