#!/usr/bin/env bash
# Stops what up.sh started: every job, then slurmd, slurmctld and munged (their state stays for the next up.sh).
set -u
command -v scancel >/dev/null && timeout 5 scancel --user root 2>/dev/null
for daemon in slurmd slurmctld munged; do
  pid=$(pgrep -x "$daemon") && kill $pid
done
running() { pgrep -x slurmd || pgrep -x slurmctld || pgrep -x munged; }
for _ in $(seq 50); do running >/dev/null || exit 0; sleep 0.2; done
echo "down.sh: still running: $(running)" >&2
exit 1
