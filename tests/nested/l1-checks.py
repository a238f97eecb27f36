#!/usr/bin/python3
"""l1-checks.py GROUP BUILD-DIR: the nested tier's checks, run inside the L1
guest (tools/nested-kit) chrooted in the host root, as root, against the real
igb/igbvf/vfio-pci/netdevsim drivers of L1's kernel.

Each check prints one line on the serial console,
"VFSEC-NESTED <check> ok|fail <detail>", which tests/nested/nested-run.sh
turns into the meson result. Assertions are on kernel readback only:
`ip -d -j link show`, sysfs, and the linux plugin's own RTM_GETLINK readback
(tests/nested/nested-plugin) compared with them; never on log text. Waits
are on rtnetlink link notifications with a deadline, never sleeps.
"""
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

WAIT_S = 120            # TCG under load is slow; bounded all the same
QUARANTINE_MAC = "52:54:00:5e:c0:01"
RTMGRP_LINK = 1
RTM_NEWLINK = 16
IFF_LOWER_UP = 1 << 16

results = []


def report(check, ok, detail):
    detail = " ".join(str(detail).split())
    results.append(ok)
    print(f"VFSEC-NESTED {check} {'ok' if ok else 'fail'} {detail}", flush=True)
    return ok


def run(argv, check=True, timeout=None):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(argv)} did not finish within {timeout} s")
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read().strip()


def ip_vfs(pf):
    """The PF's VFs as the kernel reports them to iproute2, by index."""
    link = json.loads(run(["/usr/bin/ip", "-d", "-j", "link", "show", "dev", pf]).stdout)[0]
    return {v["vf"]: v for v in link.get("vfinfo_list", [])}


def ip_vlan(v):
    """(vid, qos, protocol) of an `ip -j` VF entry; vid 0 when untagged."""
    tags = [t for t in v.get("vlan_list", []) if t.get("vlan")]
    if not tags:
        return (0, 0, None)
    t = tags[0]
    return (t["vlan"], t.get("qos", 0), t.get("protocol", "802.1Q"))


def ip_mac(v):
    return v.get("address", "00:00:00:00:00:00").lower()


def plugin(build, pf, ops, sysfs_root=None):
    """Runs nested-plugin; its answers, one dict per operation."""
    argv = [os.path.join(build, "tests", "nested", "nested-plugin")]
    if sysfs_root:
        argv += ["--sysfs-root", sysfs_root]
    r = run(argv + [pf] + ops)
    return [json.loads(line) for line in r.stdout.splitlines()]


def plugin_matches_kernel(answer, kernel_vf):
    """'' when the plugin's readback equals `ip -j`'s, else what differs."""
    st = answer.get("vf_state")
    if st is None:
        return "the plugin returned no VF state"
    tag = st["port_tag"]
    vid, qos, proto = ip_vlan(kernel_vf)
    mine = (tag["vid"], tag["pcp"], "802.1ad" if tag["tpid"] == 0x88A8 else "802.1Q") if tag else (0, 0, None)
    if mine != (vid, qos, proto):
        return f"port tag: plugin {mine}, ip {(vid, qos, proto)}"
    if (st["mac"] or "00:00:00:00:00:00") != ip_mac(kernel_vf):
        return f"mac: plugin {st['mac']}, ip {ip_mac(kernel_vf)}"
    if st["trust"] != kernel_vf.get("trust", False) or st["spoofchk"] != kernel_vf.get("spoofchk", False):
        return f"trust/spoofchk: plugin {st['trust']}/{st['spoofchk']}, ip {kernel_vf.get('trust')}/{kernel_vf.get('spoofchk')}"
    return ""


def expect_vf(kernel_vf, vid, qos, proto, mac, trust, spoofchk):
    """'' when `ip -j`'s VF has exactly these attributes, else what differs."""
    got = (ip_vlan(kernel_vf), ip_mac(kernel_vf), kernel_vf.get("trust"), kernel_vf.get("spoofchk"))
    want = ((vid, qos, proto) if vid else (0, 0, None), mac, trust, spoofchk)
    return "" if got == want else f"ip reads {got}, expected {want}"


class LinkEvents:
    """rtnetlink link notifications, subscribed before the action they follow."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, RTMGRP_LINK))

    def wait(self, ifindex, pred, what):
        """Waits for a RTM_NEWLINK of @ifindex whose flags satisfy @pred."""
        deadline = time.monotonic() + WAIT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"no link notification for ifindex {ifindex} ({what}) within {WAIT_S} s")
            if not select.select([self.sock], [], [], left)[0]:
                continue
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, mtype = struct.unpack_from("=IH", data, off)
                if length < 16:
                    break
                if mtype == RTM_NEWLINK and off + 32 <= len(data):
                    _, _, _, index, flags, _ = struct.unpack_from("=BBHiII", data, off + 16)
                    if index == ifindex and pred(flags):
                        return
                off += (length + 3) & ~3


# ---- Set-up ------------------------------------------------------------


def igb_pf(numvfs):
    """(PF netdev, PF sysfs dir) of the igb NIC with @numvfs VFs enabled."""
    pci = [d for d in os.listdir("/sys/bus/pci/drivers/igb") if d.startswith("0000:")]
    if len(pci) != 1:
        raise RuntimeError(f"expected one igb PF, found {pci}")
    dev = os.path.join("/sys/bus/pci/devices", pci[0])
    pf = os.listdir(os.path.join(dev, "net"))[0]
    run(["/usr/bin/ip", "link", "set", "dev", pf, "up"])
    if read(os.path.join(dev, "sriov_numvfs")) != str(numvfs):
        write(os.path.join(dev, "sriov_numvfs"), str(numvfs))
    return pf, dev


def vf_netdev(pfdev, vf):
    net = os.path.join(pfdev, f"virtfn{vf}", "net")
    names = os.listdir(net) if os.path.isdir(net) else []
    return names[0] if names else None


def vf_driver(pfdev, vf):
    link = os.path.join(pfdev, f"virtfn{vf}", "driver")
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else None


# ---- Check 1: the linux plugin on the igb PF ------------------------------


def group_igb_plugin(build):
    pf, dev = igb_pf(2)
    drivers = [vf_driver(dev, i) for i in range(2)]
    if not report("igb-sriov", drivers == ["igbvf", "igbvf"] and len(ip_vfs(pf)) == 2,
                  f"PF {pf} ({os.path.basename(dev)}) VFs {drivers}, ip lists {len(ip_vfs(pf))}"):
        return
    q = f"vlan=100,qos=3,trust=off,spoofchk=on,mac={QUARANTINE_MAC}"
    ops = [f"set:1:{q}",                               # 0 quarantine
           "set:1:vlan=200,qos=3,proto=8021ad",        # 1 refused by igb
           "set:1:vlan=201,proto=8021ad",              # 2 refused without the kernel
           "set:1:vlan=200,qos=3,proto=8021q",         # 3 the documented fallback
           "switch-mode:vepa",                         # 4 unsupported by igb
           "set:1:vlan=0,qos=0,mac=none"]              # 5 restore
    (a,) = plugin(build, pf, ops[:1])
    kernel = ip_vfs(pf)[1]
    diff = expect_vf(kernel, 100, 3, "802.1Q", QUARANTINE_MAC, False, True)
    report("igb-quarantine", a["ok"] and not diff and not plugin_matches_kernel(a, kernel),
           a.get("message") or diff or plugin_matches_kernel(a, kernel) or
           "VF 1: vlan 100 qos 3, trust off, spoofchk on, mac read back by the plugin and by ip")

    # One plugin instance: the second 802.1ad request must fail from what
    # the first refusal taught it. The kernel must still hold the 802.1Q tag.
    r1, r2 = plugin(build, pf, ops[1:3])
    kernel = ip_vfs(pf)[1]
    diff = expect_vf(kernel, 100, 3, "802.1Q", QUARANTINE_MAC, False, True)
    report("igb-8021ad-refused",
           not r1["ok"] and r1["code"] == "UNSUPPORTED" and "802.1ad" in r1["message"]
           and not r1["port_tag_8021ad"] and not r2["ok"] and r2["code"] == "UNSUPPORTED" and not diff,
           diff or f"first: {r1.get('code')} ({r1.get('message')}); again: {r2.get('code')}; "
           f"cap port_tag_8021ad now {r1['port_tag_8021ad']}; VF 1 still holds its 802.1Q tag")

    fb, vepa = plugin(build, pf, ops[3:5])
    kernel = ip_vfs(pf)[1]
    diff = expect_vf(kernel, 200, 3, "802.1Q", QUARANTINE_MAC, False, True)
    report("igb-8021ad-fallback", fb["ok"] and not diff and not plugin_matches_kernel(fb, kernel),
           fb.get("message") or diff or plugin_matches_kernel(fb, kernel) or
           "802.1Q tag of the same VID 200 qos 3 set and read back")
    report("igb-vepa-refused", not vepa["ok"] and vepa["code"] == "UNSUPPORTED" and vepa["switch_mode"] == "veb",
           f"{vepa.get('code')}: {vepa.get('message')}; port still {vepa['switch_mode']}")

    answers = plugin(build, pf, ops[5:])
    restored = ip_vfs(pf)[1]
    a = answers[0]
    report("igb-restore", a["ok"] and ip_vlan(restored)[0] == 0 and ip_mac(restored) == "00:00:00:00:00:00"
           and not plugin_matches_kernel(a, restored),
           a.get("message") or plugin_matches_kernel(a, restored) or
           f"VF 1 back to no port VLAN, no administrative MAC (ip reads {ip_vlan(restored)}, {ip_mac(restored)})")


# ---- Check 2: netdevsim, which takes 802.1ad ------------------------------


def fake_pci_sysfs(root, pf, numvfs):
    """A sysfs tree describing netdevsim's port @pf as a PCI SR-IOV PF.

    netdevsim is no PCI device, and the plugin resolves its PF through PCI
    sysfs (lib/vfsec-topology.c); this tree stands in for that lookup only.
    Every netlink request still goes to the real netdevsim driver."""
    pfpci, top = "0000:00:1f.0", os.path.join(root, "devices", "pci0000:00")
    os.makedirs(os.path.join(root, "bus", "pci", "drivers", "netdevsim"))
    os.makedirs(os.path.join(root, "bus", "pci", "devices"))
    os.makedirs(os.path.join(root, "class", "net"))

    def device(addr, devid):
        d = os.path.join(top, addr)
        os.makedirs(d)
        write(os.path.join(d, "vendor"), "0x8086")
        write(os.path.join(d, "device"), devid)
        os.symlink(f"../../../devices/pci0000:00/{addr}", os.path.join(root, "bus", "pci", "devices", addr))
        return d

    d = device(pfpci, "0x10c9")
    for name, val in (("sriov_totalvfs", "7"), ("sriov_numvfs", str(numvfs)), ("sriov_offset", "1"),
                      ("sriov_stride", "1"), ("sriov_vf_device", "10ca"), ("sriov_drivers_autoprobe", "1")):
        write(os.path.join(d, name), val)
    os.symlink("../../../bus/pci/drivers/netdevsim", os.path.join(d, "driver"))
    os.makedirs(os.path.join(d, "net", pf))
    write(os.path.join(d, "net", pf, "address"), read(f"/sys/class/net/{pf}/address"))
    os.symlink("../../../" + pfpci, os.path.join(d, "net", pf, "device"))
    os.symlink(f"../../devices/pci0000:00/{pfpci}/net/{pf}", os.path.join(root, "class", "net", pf))
    for i in range(numvfs):
        vaddr = f"0000:00:1f.{i + 1}"
        v = device(vaddr, "0x10ca")
        os.symlink("../" + pfpci, os.path.join(v, "physfn"))
        os.symlink("../" + vaddr, os.path.join(d, f"virtfn{i}"))


def group_netdevsim_plugin(build):
    write("/sys/bus/netdevsim/new_device", "1 1")
    nsim = "/sys/bus/netdevsim/devices/netdevsim1"
    write(os.path.join(nsim, "sriov_numvfs"), "2")
    pf = os.listdir(os.path.join(nsim, "net"))[0]
    run(["/usr/bin/ip", "link", "set", "dev", pf, "up"])
    report("nsim-sriov", len(ip_vfs(pf)) == 2, f"netdevsim port {pf}: ip lists {len(ip_vfs(pf))} VFs")
    root = "/tmp/nsim-sysfs"
    fake_pci_sysfs(root, pf, 2)
    q = f"vlan=100,qos=2,proto=8021ad,trust=off,spoofchk=on,mac={QUARANTINE_MAC}"
    stag, vepa = plugin(build, pf, [f"set:0:{q}", "switch-mode:vepa"], sysfs_root=root)
    kernel = ip_vfs(pf)[0]
    diff = expect_vf(kernel, 100, 2, "802.1ad", QUARANTINE_MAC, False, True)
    report("nsim-stag", stag["ok"] and stag["port_tag_8021ad"] and not diff
           and not plugin_matches_kernel(stag, kernel),
           stag.get("message") or diff or plugin_matches_kernel(stag, kernel) or
           "VF 0: S-tag (802.1ad) 100 pcp 2, trust off, spoofchk on, mac read back by the plugin and by ip")
    report("nsim-vepa-refused", not vepa["ok"] and vepa["code"] == "UNSUPPORTED",
           f"{vepa.get('code')}: {vepa.get('message')}")
    (restore,) = plugin(build, pf, ["set:0:vlan=0,qos=0,mac=none"], sysfs_root=root)
    kernel = ip_vfs(pf)[0]
    report("nsim-restore", restore["ok"] and ip_vlan(kernel)[0] == 0 and not plugin_matches_kernel(restore, kernel),
           restore.get("message") or plugin_matches_kernel(restore, kernel) or "VF 0 back to no port tag")


# ---- Check 3: reclaim by VF reset on igb -----------------------------------


def group_igb_reclaim(build):
    pf, dev = igb_pf(2)
    vfnet = vf_netdev(dev, 0)
    if not report("igb-vf-bound", vfnet is not None and vf_driver(dev, 0) == "igbvf",
                  f"VF 0 netdev {vfnet}, driver {vf_driver(dev, 0)}"):
        return
    ifindex = int(read(f"/sys/class/net/{vfnet}/ifindex"))
    events = LinkEvents()
    run(["/usr/bin/ip", "link", "set", "dev", vfnet, "up"])
    # igbvf reports carrier once its watchdog saw the PF up.
    if not int(read(f"/sys/class/net/{vfnet}/carrier") or 0):
        events.wait(ifindex, lambda f: f & IFF_LOWER_UP, "carrier up")
    before = int(read(f"/sys/class/net/{vfnet}/carrier_changes"))
    q = f"vlan=100,qos=3,trust=off,spoofchk=on,mac={QUARANTINE_MAC}"
    quarantine, reclaim = plugin(build, pf, [f"set:0:{q}", "reclaim:0"])
    report("igb-reclaim-answer", quarantine["ok"] and reclaim["ok"],
           reclaim.get("message") or quarantine.get("message") or "set_vf then reclaim_vf (sysfs reset) succeeded")
    # The FLR is invisible to the PF's rtnetlink; igbvf sees its VF reset
    # and takes the link down while it re-initialises.
    try:
        events.wait(ifindex, lambda f: not f & IFF_LOWER_UP, "carrier lost in the VF reset")
        after = int(read(f"/sys/class/net/{vfnet}/carrier_changes"))
        report("igb-reset-seen-by-igbvf", after > before,
               f"{vfnet} carrier_changes {before} -> {after}; its MAC now {read(f'/sys/class/net/{vfnet}/address')}")
    except RuntimeError as e:
        report("igb-reset-seen-by-igbvf", False, e)
    kernel = ip_vfs(pf)[0]
    diff = expect_vf(kernel, 100, 3, "802.1Q", QUARANTINE_MAC, False, True)
    report("igb-quarantine-holds", not diff, diff or "after the reset igb re-applied vlan 100 qos 3, "
           "trust off, spoofchk on and the PF-set MAC (ip readback)")
    vmac = read(f"/sys/class/net/{vfnet}/address")
    report("igb-vf-took-pf-mac", vmac == QUARANTINE_MAC,
           f"igbvf re-read its MAC from the PF after the reset: {vmac}")


# ---- Check 5: sysfs topology resolution -------------------------------------


def group_topology(build):
    pf, dev = igb_pf(2)
    vfpci = os.path.basename(os.readlink(os.path.join(dev, "virtfn1")))
    vfdev = os.path.join("/sys/bus/pci/devices", vfpci)
    # As libvirt's managed='yes' does: the VF goes to vfio-pci.
    write(os.path.join(vfdev, "driver_override"), "vfio-pci")
    if os.path.islink(os.path.join(vfdev, "driver")):
        write(os.path.join(vfdev, "driver", "unbind"), vfpci)
    write("/sys/bus/pci/drivers_probe", vfpci)
    group = os.path.basename(os.readlink(os.path.join(vfdev, "iommu_group")))
    report("vf-to-vfio", vf_driver(dev, 1) == "vfio-pci" and os.path.exists(f"/dev/vfio/{group}"),
           f"VF {vfpci} driver {vf_driver(dev, 1)}, /dev/vfio/{group}")
    dom, bus, sf = vfpci.split(":")
    slot, fn = sf.split(".")
    xml = f"""<domain type='qemu'><name>l2</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
<interface type='hostdev' managed='yes'><mac address='52:54:00:00:00:42'/>
<source><address type='pci' domain='0x{dom}' bus='0x{bus}' slot='0x{slot}' function='0x{fn}'/></source>
<vlan><tag id='42'/></vlan></interface></devices></domain>"""
    write("/tmp/l2.xml", xml)
    r = run([os.path.join(build, "tools", "vfsecctl"), "inspect-domain", "--json", "--sysfs-root", "/sys",
             "/tmp/l2.xml"], check=False)
    try:
        res = json.loads(r.stdout)[0]["resolved"]
    except (ValueError, IndexError, KeyError, TypeError):
        report("inspect-domain", False, f"vfsecctl exited {r.returncode}: {r.stderr.strip()} {r.stdout.strip()}")
        return
    want = {"pf": pf, "vf": 1, "vf_pci": vfpci, "pf_pci": os.path.basename(dev),
            "pf_driver": "igb", "vf_driver": "vfio-pci"}
    got = {k: res.get(k) for k in want}
    report("inspect-domain", r.returncode == 0 and got == want, f"resolved {got}, expected {want}")


# ---- Check 4: libvirtd + vfsecd + vfsec-hook on an igb VF -----------------

L2_MAC = "52:54:00:00:00:42"
QTAG_VID = 4092         # [tags] metadata-vid default: the quarantine port tag


def wait_file_line(path, proc, want, what):
    """Waits until file @path holds a line containing @want (tail -F follows
    it as it is written; it ends with @proc), with a deadline."""
    tail = subprocess.Popen(["tail", "-n", "+1", "-F", f"--pid={proc.pid}", path],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + WAIT_S
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([tail.stdout], [], [], left)[0]:
                raise RuntimeError(f"{what} not ready within {WAIT_S} s")
            line = tail.stdout.readline()
            if not line:
                raise RuntimeError(f"{what} exited {proc.poll()} before it was ready")
            if want in line:
                return
    finally:
        tail.kill()
        tail.wait()


def dump_stacks(comms):
    """Prints the kernel stack, wchan and state of every thread of the
    processes named @comms (what a stalled daemon waits on)."""
    for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            comm = read(f"/proc/{pid}/comm")
        except OSError:
            continue
        if comm not in comms:
            continue
        for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
            t = f"/proc/{pid}/task/{tid}"
            try:
                state = [l for l in open(t + "/status") if l.startswith("State:")][0].split(None, 1)[1]
                print(f"STACK {comm} {pid}/{tid} [{read(t + '/comm')}] {state.strip()} "
                      f"wchan={read(t + '/wchan')}", flush=True)
                for line in open(t + "/stack"):
                    print(f"STACK   {line.rstrip()}", flush=True)
            except OSError as e:
                print(f"STACK {comm} {pid}/{tid}: {e}", flush=True)


def vfsecd_vf(build, sock, vf):
    """VF @vf as vfsecd reports it (`vfsecctl vfs --json`)."""
    r = run([os.path.join(build, "tools", "vfsecctl"), "vfs", "--json", "--socket", sock])
    return [v for v in json.loads(r.stdout)["vfs"] if v["vf"] == vf][0]


def group_libvirt(build):
    pf, dev = igb_pf(2)
    vfpci = os.path.basename(os.readlink(os.path.join(dev, "virtfn1")))
    work = "/tmp/l1-libvirt"
    os.makedirs(work + "/state", mode=0o700)
    os.makedirs(work + "/run")
    sock = work + "/vfsecd.sock"
    write(work + "/vfsecd.conf", f"""[daemon]
libvirt-uri = qemu:///system
control-socket = {sock}
state-dir = {work}/state
run-dir = {work}/run
log-level = debug
[pf p0]
plugin = linux
netdev = {pf}
""")
    # TCG in L1 is slow: the hook waits up to 2 min for vfsecd (default 10 s).
    # L1 is throwaway: libvirtd runs with its compiled-in paths, which /init
    # put on tmpfs. No namespaces: QEMU's private /dev fails in the chroot.
    os.makedirs("/etc/libvirt/hooks", exist_ok=True)
    write("/etc/libvirt/libvirtd.conf", 'listen_tls = 0\nlisten_tcp = 0\nauth_unix_rw = "none"\n'
          'log_filters = "1:qemu.qemu_capabilities 1:util.command 3:*"\n'
          'log_outputs = "1:file:/var/log/libvirt/libvirtd.log"\n')
    write("/etc/libvirt/qemu.conf", 'user = "root"\ngroup = "root"\nsecurity_driver = "none"\n'
          'namespaces = [ ]\ncgroup_controllers = [ ]\ndynamic_ownership = 0\nremember_owner = 0\n')
    write("/etc/libvirt/hooks/qemu", f"#!/bin/sh\nVFSEC_CONTROL_SOCKET='{sock}'\nexport VFSEC_CONTROL_SOCKET\n"
          f"exec '{build}/hooks/vfsec-hook' --kind=qemu --timeout-ms=120000 \"$@\"\n")
    os.chmod("/etc/libvirt/hooks/qemu", 0o755)
    run(["/usr/sbin/virtlogd", "-d"])
    run(["/usr/sbin/libvirtd", "-d"])
    r = run(["/usr/bin/virsh", "-c", "qemu:///system", "version"], check=False)
    if r.returncode != 0:
        log = "/var/log/libvirt/libvirtd.log"
        print(open(log).read()[-4000:] if os.path.exists(log) else "no libvirtd.log", flush=True)
        raise RuntimeError(f"libvirtd in L1 does not answer: {r.stderr.strip()}")
    vfsecd = subprocess.Popen([os.path.join(build, "daemon", "vfsecd"), "--config", work + "/vfsecd.conf",
                               "--ready-file", work + "/ready", "--foreground"],
                              stdout=open(work + "/vfsecd.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_file_line(work + "/ready", vfsecd, "ready", "vfsecd")
        idle = ip_vfs(pf)[1]
        report("lv-idle-quarantined", not expect_vf(idle, QTAG_VID, 0, "802.1Q", ip_mac(idle), False, True),
               expect_vf(idle, QTAG_VID, 0, "802.1Q", ip_mac(idle), False, True) or
               f"vfsecd quarantined unowned VF 1 (port tag {QTAG_VID}), mac {ip_mac(idle)}")
        dom, bus, sf = vfpci.split(":")
        slot, fn = sf.split(".")
        write(work + "/l2.xml", f"""<domain type='qemu'><name>l2</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>
<devices><interface type='hostdev' managed='yes'><mac address='{L2_MAC}'/>
<source><address type='pci' domain='0x{dom}' bus='0x{bus}' slot='0x{slot}' function='0x{fn}'/></source>
</interface><memballoon model='none'/></devices></domain>""")
        run(["/usr/bin/virsh", "-c", "qemu:///system", "define", work + "/l2.xml"])
        start = subprocess.Popen(["/usr/bin/virsh", "-c", "qemu:///system", "start", "l2"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # A start still pending after 45 s is stalled: show where every
            # daemon's thread is in the kernel while it is, then keep waiting.
            out, err = start.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            dump_stacks(["vfsecd", "libvirtd", "vfsec-hook", "qemu-system-x86", "virsh"])
            try:
                out, err = start.communicate(timeout=195)
            except subprocess.TimeoutExpired:
                start.kill()
                start.communicate()
                report("lv-start", False, "virsh start l2 did not finish within 240 s")
                log = "/var/log/libvirt/libvirtd.log"
                print(open(log).read()[-3000:] if os.path.exists(log) else "no libvirtd.log", flush=True)
                return
        r = subprocess.CompletedProcess(start.args, start.returncode, out, err)
        if not report("lv-start", r.returncode == 0, r.stderr.strip() or f"virsh start l2 with VF {vfpci}"):
            return
        running = ip_vfs(pf)[1]
        diff = expect_vf(running, QTAG_VID, 0, "802.1Q", L2_MAC, False, True)
        report("lv-running-quarantined", not diff and vf_driver(dev, 1) == "vfio-pci",
               diff or f"VF 1 on vfio-pci: libvirt's MAC {L2_MAC}, vfsec's port tag {QTAG_VID}, trust off, spoofchk on")
        # The prepare hook reclaimed the VF (a reset: the first reclaim of
        # this vfsecd, whose idle quarantine reclaims nothing) for owner l2.
        st = vfsecd_vf(build, sock, 1)
        report("lv-owned-reclaimed", st["owner"] == "l2" and st["last_reclaim"] is not None and st["quarantined"],
               f"vfsecd: VF 1 owner {st['owner']}, last reclaim {st['last_reclaim']}, quarantined {st['quarantined']}")
        xml = run(["/usr/bin/virsh", "-c", "qemu:///system", "dumpxml", "l2"]).stdout
        write(work + "/live.xml", xml)
        r = run([os.path.join(build, "tools", "vfsecctl"), "inspect-domain", "--json", "--sysfs-root", "/sys",
                 work + "/live.xml"], check=False)
        res = json.loads(r.stdout)[0]["resolved"] if r.returncode == 0 else {}
        report("lv-inspect-live", res.get("pf") == pf and res.get("vf") == 1,
               f"live XML of l2 resolves to {res.get('pf')} VF {res.get('vf')}")
        r = run(["/usr/bin/virsh", "-c", "qemu:///system", "destroy", "l2"], check=False)
        report("lv-destroy", r.returncode == 0, r.stderr.strip() or "virsh destroy l2")
        # virsh destroy returns after the release hook, which waits for
        # vfsecd's release (reclaim, re-quarantine): no reclaim pending, no job.
        st = vfsecd_vf(build, sock, 1)
        report("lv-released-reclaimed",
               st["owner"] is None and not st["reclaim_pending"] and st["jobs"] == 0 and
               st["quarantined"] and st["last_reclaim"] is not None,
               f"vfsecd: VF 1 owner {st['owner']}, reclaim pending {st['reclaim_pending']}, "
               f"jobs {st['jobs']}, last reclaim {st['last_reclaim']}, quarantined {st['quarantined']}")
        after = ip_vfs(pf)[1]
        diff = expect_vf(after, QTAG_VID, 0, "802.1Q", ip_mac(after), False, True)
        report("lv-released-quarantined", not diff and ip_mac(after) != L2_MAC,
               diff or f"after release: port tag {QTAG_VID} again, libvirt restored the MAC to {ip_mac(after)}, "
               f"VF driver {vf_driver(dev, 1)}")
    finally:
        vfsecd.terminate()
        vfsecd.wait()
        print(open(work + "/vfsecd.log").read()[-6000:], flush=True)


GROUPS = {
    "libvirt": group_libvirt,
    "igb-plugin": group_igb_plugin,
    "netdevsim-plugin": group_netdevsim_plugin,
    "igb-reclaim": group_igb_reclaim,
    "topology": group_topology,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in GROUPS:
        print(f"usage: l1-checks.py {'|'.join(GROUPS)} BUILD-DIR", file=sys.stderr)
        return 2
    group = sys.argv[1]
    try:
        GROUPS[group](sys.argv[2])
    except Exception as e:  # any set-up failure is this group's failure
        report(group, False, f"{type(e).__name__}: {e}")
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
