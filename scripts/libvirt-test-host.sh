#!/usr/bin/env bash
# FOR TEST MACHINES ONLY. Installs libvirt + QEMU (and what the tests and benchmarks use: gcc for
# the lab guest program, Chromium for the dashboard test, python3-libvirt as the benchmark baseline,
# prometheus (server and promtool) for the fleet test, systemd for systemd-analyze and systemd-sysusers)
# from Debian's packages and starts virtlogd and libvirtd without systemd, configured to run
# guests as root with no security driver.
# That configuration is unsafe on a real host; virtbalance itself never changes libvirt's config.
#
#   scripts/libvirt-test-host.sh up      install if missing, configure, start (idempotent)
#   scripts/libvirt-test-host.sh down    stop the daemons this script started
#   scripts/libvirt-test-host.sh status  say whether the daemon answers
set -euo pipefail

SOCK=/var/run/libvirt/libvirt-sock
STATE_DIR=/var/run/virtbalance-test-host
APT_PACKAGES=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 cpio busybox-static gcc libc6-dev chromium python3-libvirt prometheus prometheus-libvirt-exporter systemd libvirt-dev pkg-config)

say() { printf '[test-host] %s\n' "$*"; }
die() { printf '[test-host] error: %s\n' "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts libvirtd)"; }

missing_packages() {
  local p missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  echo "${missing[@]:-}"
}

install_packages() {
  local missing
  missing=$(missing_packages)
  if [ -z "$missing" ]; then say "packages present"; return; fi
  say "installing: $missing (about a minute)"
  local t0=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  say "installed in $((SECONDS - t0)) s"
  # The tests start their own exporter on a free port; the package's service (port 9177) stays off.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus-libvirt-exporter.service >/dev/null 2>&1 || true
  fi
}

ensure_accounts() {
  # The QEMU driver resolves user/group libvirt-qemu before reading qemu.conf.
  getent group kvm >/dev/null || groupadd --system kvm
  getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
  getent passwd libvirt-qemu >/dev/null || useradd --system --no-create-home -g libvirt-qemu -s /usr/sbin/nologin libvirt-qemu
}

write_qemu_conf() {
  local conf=/etc/libvirt/qemu.conf marker='# written by virtbalance scripts/libvirt-test-host.sh'
  if [ -f "$conf" ] && ! grep -qF "$marker" "$conf"; then
    say "keeping existing $conf (not ours)"
    return
  fi
  mkdir -p /etc/libvirt
  cat >"$conf" <<EOF
$marker (test machines only)
user = "root"
group = "root"
security_driver = "none"
dynamic_ownership = 0
namespaces = [ ]
swtpm_user = "root"
swtpm_group = "root"
EOF
}

daemon_answers() {
  [ -S "$SOCK" ] && timeout 10 virsh -c qemu:///system version >/dev/null 2>&1
}

start_daemons() {
  mkdir -p "$STATE_DIR" /var/run/libvirt /var/log/libvirt
  if ! pgrep -x virtlogd >/dev/null; then
    setsid virtlogd >>/var/log/libvirt/virtlogd.log 2>&1 < /dev/null &
    echo $! >"$STATE_DIR/virtlogd.pid"
  fi
  if ! pgrep -x libvirtd >/dev/null; then
    rm -f "$SOCK"
    setsid libvirtd >>/var/log/libvirt/libvirtd.log 2>&1 < /dev/null &
    echo $! >"$STATE_DIR/libvirtd.pid"
  fi
  local i
  for i in $(seq 1 60); do
    if daemon_answers; then say "libvirtd answers on $SOCK (after ${i}x0.5 s)"; return; fi
    sleep 0.5
  done
  tail -n 20 /var/log/libvirt/libvirtd.log >&2 || true
  die "libvirtd did not answer on $SOCK within 30 s (log above)"
}

stop_daemons() {
  local name pid
  for name in libvirtd virtlogd; do
    if [ -f "$STATE_DIR/$name.pid" ]; then
      pid=$(cat "$STATE_DIR/$name.pid")
      kill "$pid" 2>/dev/null && say "stopped $name ($pid)" || true
      rm -f "$STATE_DIR/$name.pid"
    fi
  done
}

case "${1:-}" in
  up)
    need_root
    install_packages
    if daemon_answers; then say "libvirtd already answers on $SOCK"; exit 0; fi
    ensure_accounts
    write_qemu_conf
    start_daemons
    ;;
  down)
    need_root
    stop_daemons
    ;;
  status)
    if daemon_answers; then say "libvirtd answers on $SOCK"; else say "libvirtd does not answer on $SOCK"; exit 1; fi
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
