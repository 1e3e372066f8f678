#!/usr/bin/env bash
# A real single-node SLURM on 127.0.0.1 with two fake GPUs, for testing the slurm profile.
# Usage: single_node.sh start | stop | status       (root, Debian/Ubuntu; no systemd needed)
# Facts behind each setting: ../shared/notes/slurm-single-node.md in the project's workspace.
set -euo pipefail

PACKAGES="slurmctld slurmd slurm-client munge"
CONF_DIR=/etc/slurm
GPUS=2

log() { printf 'slurm: %s\n' "$*" >&2; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
     && command -v munged >/dev/null; then
    return 0
  fi
  log "installing $PACKAGES"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
}

write_config() {
  local host cpus mem node_line
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(free -m | awk '/^Mem:/ {print $2}') * 9 / 10 ))
  mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
  node_line=$(slurmd -C | head -1 | sed -E "s/RealMemory=[0-9]+/RealMemory=${mem}/")
  cat > "$CONF_DIR/slurm.conf" <<CONF
ClusterName=convnet-test
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
MinJobAge=300
ReturnToService=2
MpiDefault=none
GresTypes=gpu
${node_line} NodeAddr=127.0.0.1 Gres=gpu:fake:${GPUS} State=UNKNOWN
PartitionName=main Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
  # Each fake GPU needs a device file of its own, or the node goes INVAL.
  cat > "$CONF_DIR/gres.conf" <<CONF
AutoDetect=off
NodeName=${host} Name=gpu Type=fake File=/dev/null
NodeName=${host} Name=gpu Type=fake File=/dev/zero
CONF
}

start() {
  install_packages
  write_config
  mkdir -p /run/munge && chown munge:munge /run/munge
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    su -s /bin/sh munge -c /usr/sbin/munged
  fi
  rm -rf /var/spool/slurmctld/*  # forget a node state (e.g. INVAL) from an earlier config
  /usr/sbin/slurmctld
  /usr/sbin/slurmd
  local host state
  host=$(hostname -s)
  for _ in $(seq 1 60); do
    state=$(sinfo -h -N -n "$host" -o %T 2>/dev/null || true)
    if [ "$state" = "idle" ]; then
      log "node $host is idle"
      return 0
    fi
    sleep 0.5
  done
  log "node did not become idle (state: ${state:-none}); see /var/log/slurm/"
  tail -5 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
  return 1
}

stop() {
  # By PID from the pid files, never by name: other SLURMs on a shared machine are not ours.
  for pidfile in /run/slurm/slurmd.pid /run/slurm/slurmctld.pid /run/munge/munged.pid; do
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo -N -o "%N %T %G" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
