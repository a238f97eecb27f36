#!/bin/sh
# generate.sh: rebuilds the fake sysfs trees of this directory (see README.md).
# The trees are committed; run this only to change them, then commit the result.
# Every link is made relative (ln -r) so a tree works wherever it is checked out.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

# file PATH CONTENT: an attribute file, newline-terminated as sysfs writes it.
file() {
    mkdir -p "$(dirname "$1")"
    printf '%s\n' "$2" >"$1"
}

# link TARGET LINK (both relative to the current tree root).
link() {
    mkdir -p "$(dirname "$2")" "$(dirname "$1")"
    ln -sr "$1" "$2"
}

# bridge DIR VENDOR DEVICE: a PCIe root port (only its identity is kept).
bridge() {
    file "$1/vendor" "0x$2"
    file "$1/device" "0x$3"
}

# pcidev DIR ADDR VENDOR DEVICE DRIVER|-: a network-class PCI function.
pcidev() {
    file "$1/vendor" "0x$3"
    file "$1/device" "0x$4"
    link "$1" "bus/pci/devices/$2"
    if [ "$5" != - ]; then
        # The driver's back-link also keeps its directory non-empty: git
        # stores no empty directory, and "driver" would then dangle.
        link "$1" "bus/pci/drivers/$5/$2"
        link "bus/pci/drivers/$5" "$1/driver"
    fi
}

# netdev DEVDIR IFNAME MAC: a network interface of a device.
netdev() {
    mkdir -p "$1/net/$2"
    file "$1/net/$2/address" "$3"
    # Spelt as the kernel spells it (not "../.."): up to the parent, then down.
    ln -s "../../../$(basename "$1")" "$1/net/$2/device"
    link "$1/net/$2" "class/net/$2"
}

# virtual_netdev IFNAME MAC: an interface with no device (bridge, loopback).
virtual_netdev() {
    mkdir -p "devices/virtual/net/$1"
    file "devices/virtual/net/$1/address" "$2"
    link "devices/virtual/net/$1" "class/net/$1"
}

# sriov PFDIR TOTAL NUM OFFSET STRIDE VFDEVICE
sriov() {
    file "$1/sriov_totalvfs" "$2"
    file "$1/sriov_numvfs" "$3"
    file "$1/sriov_offset" "$4"
    file "$1/sriov_stride" "$5"
    file "$1/sriov_vf_device" "$6"
    file "$1/sriov_drivers_autoprobe" 1
}

# vf PFDIR INDEX VFDIR: the physfn/virtfnN pair the kernel creates.
vf() {
    link "$1" "$3/physfn"
    link "$3" "$1/virtfn$2"
}

newtree() {
    cd "$here"
    rm -rf "$1"
    mkdir "$1"
    cd "$1"
}

# --- i40e: Intel XL710 (FVL) dual-port 40G, VFs on iavf ---
newtree i40e
rp=devices/pci0000:3a/0000:3a:00.0
bridge $rp 8086 2030
pf0=$rp/0000:3b:00.0
pcidev $pf0 0000:3b:00.0 8086 1583 i40e
netdev $pf0 ens1f0 3c:fd:fe:a0:00:00
sriov $pf0 64 4 16 1 154c
pf1=$rp/0000:3b:00.1
pcidev $pf1 0000:3b:00.1 8086 1583 i40e
netdev $pf1 ens1f1 3c:fd:fe:a0:00:01
sriov $pf1 64 0 79 1 154c
i=0
for fn in 0 1 2 3; do
    d=$rp/0000:3b:02.$fn
    if [ $fn = 3 ]; then
        pcidev $d 0000:3b:02.$fn 8086 154c vfio-pci
    else
        pcidev $d 0000:3b:02.$fn 8086 154c iavf
        netdev $d ens1f0v$i 52:54:00:3b:02:0$fn
    fi
    vf $pf0 $i $d
    i=$((i + 1))
done
virtual_netdev virbr0 52:54:00:aa:bb:cc
virtual_netdev lo 00:00:00:00:00:00

# --- ice: Intel E810-C, VFs on iavf, one VF unbound ---
newtree ice
rp=devices/pci0000:ae/0000:ae:00.0
bridge $rp 8086 347a
pf=$rp/0000:af:00.0
pcidev $pf 0000:af:00.0 8086 1592 ice
netdev $pf ens2f0 b4:96:91:00:00:10
sriov $pf 128 3 8 1 1889
pcidev $rp/0000:af:01.0 0000:af:01.0 8086 1889 iavf
netdev $rp/0000:af:01.0 ens2f0v0 52:54:00:af:01:00
pcidev $rp/0000:af:01.1 0000:af:01.1 8086 1889 iavf
netdev $rp/0000:af:01.1 ens2f0v1 52:54:00:af:01:01
pcidev $rp/0000:af:01.2 0000:af:01.2 8086 1889 -
for i in 0 1 2; do vf $pf $i $rp/0000:af:01.$i; done
# The on-board LOM: a PCI netdev without SR-IOV.
pcidev devices/pci0000:00/0000:00:1f.6 0000:00:1f.6 8086 15bb e1000e
netdev devices/pci0000:00/0000:00:1f.6 eno1 a4:bb:6d:00:00:01

# --- ixgbe: Intel 82599ES dual-port, PF0 on ixgbe, PF1 on vfio-pci ---
newtree ixgbe
rp=devices/pci0000:00/0000:00:03.0
bridge $rp 8086 6f08
pf0=$rp/0000:04:00.0
pcidev $pf0 0000:04:00.0 8086 10fb ixgbe
netdev $pf0 enp4s0f0 90:e2:ba:00:00:00
sriov $pf0 63 2 128 2 10ed
pcidev $rp/0000:04:10.0 0000:04:10.0 8086 10ed ixgbevf
netdev $rp/0000:04:10.0 enp4s16 52:54:00:04:10:00
pcidev $rp/0000:04:10.2 0000:04:10.2 8086 10ed ixgbevf
netdev $rp/0000:04:10.2 enp4s16f2 52:54:00:04:10:02
vf $pf0 0 $rp/0000:04:10.0
vf $pf0 1 $rp/0000:04:10.2
# vfio-pci can enable SR-IOV on a PF it owns (enable_sriov=1): no PF netdev.
pf1=$rp/0000:04:00.1
pcidev $pf1 0000:04:00.1 8086 10fb vfio-pci
sriov $pf1 63 1 128 2 10ed
pcidev $rp/0000:04:10.1 0000:04:10.1 8086 10ed vfio-pci
vf $pf1 0 $rp/0000:04:10.1

# --- igb: a QEMU q35 guest with an emulated 82576 (igb) and a virtio NIC ---
newtree igb
rp=devices/pci0000:00/0000:00:02.0
bridge $rp 1b36 000c
pf=$rp/0000:01:00.0
pcidev $pf 0000:01:00.0 8086 10c9 igb
netdev $pf enp1s0 52:54:00:01:00:00
sriov $pf 7 2 128 2 10ca
pcidev $rp/0000:01:10.0 0000:01:10.0 8086 10ca igbvf
netdev $rp/0000:01:10.0 enp1s16 52:54:00:01:10:00
pcidev $rp/0000:01:10.2 0000:01:10.2 8086 10ca igbvf
netdev $rp/0000:01:10.2 enp1s16f2 52:54:00:01:10:02
vf $pf 0 $rp/0000:01:10.0
vf $pf 1 $rp/0000:01:10.2
# virtio-net: the netdev hangs off virtio0, not off the PCI function.
virtio=devices/pci0000:00/0000:00:03.0
pcidev $virtio 0000:00:03.0 1af4 1000 virtio-pci
mkdir -p $virtio/virtio0
link $virtio/virtio0 bus/virtio/drivers/virtio_net/virtio0
link bus/virtio/drivers/virtio_net $virtio/virtio0/driver
netdev $virtio/virtio0 enp0s3 52:54:00:00:03:00

# --- broken: one defect per PCI bus, for the error paths ---
newtree broken
rp=devices/pci0000:00
# 05: sriov_numvfs holds garbage.
pcidev $rp/0000:05:00.0 0000:05:00.0 8086 1583 i40e
netdev $rp/0000:05:00.0 ens5f0 3c:fd:fe:05:00:00
sriov $rp/0000:05:00.0 64 1 16 1 154c
file $rp/0000:05:00.0/sriov_numvfs four
pcidev $rp/0000:05:02.0 0000:05:02.0 8086 154c iavf
netdev $rp/0000:05:02.0 ens5f0v0 52:54:00:05:02:00
vf $rp/0000:05:00.0 0 $rp/0000:05:02.0
# 06: a VF whose physfn climbs out of the root.
pcidev $rp/0000:06:02.0 0000:06:02.0 8086 154c iavf
ln -s ../../../../../outside $rp/0000:06:02.0/physfn
# 07: a bus/pci/devices entry that climbs out of the root.
ln -s ../../../../etc bus/pci/devices/0000:07:00.0
# 08: absolute links, which mean "from the sysfs root".
pcidev $rp/0000:08:00.0 0000:08:00.0 8086 10fb ixgbe
netdev $rp/0000:08:00.0 enp8s0f0 90:e2:ba:08:00:00
sriov $rp/0000:08:00.0 63 1 128 2 10ed
pcidev $rp/0000:08:10.0 0000:08:10.0 8086 10ed ixgbevf
netdev $rp/0000:08:10.0 enp8s16 52:54:00:08:10:00
link $rp/0000:08:10.0 $rp/0000:08:00.0/virtfn0
ln -s /$rp/0000:08:00.0 $rp/0000:08:10.0/physfn
rm bus/pci/devices/0000:08:10.0
ln -s /$rp/0000:08:10.0 bus/pci/devices/0000:08:10.0
# 09: a VF whose physfn is dangling.
pcidev $rp/0000:09:02.0 0000:09:02.0 8086 154c iavf
ln -s ../0000:09:00.0 $rp/0000:09:02.0/physfn
# 0a: a bus/pci/devices entry that points at itself.
ln -s 0000:0a:00.0 bus/pci/devices/0000:0a:00.0
# 0b: a VF its PF does not list (virtfn0 is another VF).
pcidev $rp/0000:0b:00.0 0000:0b:00.0 8086 1583 i40e
sriov $rp/0000:0b:00.0 64 1 16 1 154c
pcidev $rp/0000:0b:02.0 0000:0b:02.0 8086 154c iavf
pcidev $rp/0000:0b:02.1 0000:0b:02.1 8086 154c iavf
vf $rp/0000:0b:00.0 0 $rp/0000:0b:02.0
link $rp/0000:0b:00.0 $rp/0000:0b:02.1/physfn
# 0c: sriov_numvfs above sriov_totalvfs.
pcidev $rp/0000:0c:00.0 0000:0c:00.0 8086 10c9 igb
sriov $rp/0000:0c:00.0 7 9 128 2 10ca
# 0d: an attribute larger than a page.
pcidev $rp/0000:0d:00.0 0000:0d:00.0 8086 10c9 igb
sriov $rp/0000:0d:00.0 7 0 128 2 10ca
head -c 5000 /dev/zero | tr '\0' 7 >$rp/0000:0d:00.0/sriov_totalvfs
# 0e: sriov_numvfs 2 but only virtfn0; 0f: numvfs 0 but a virtfn0.
pcidev $rp/0000:0e:00.0 0000:0e:00.0 8086 1583 i40e
sriov $rp/0000:0e:00.0 64 2 16 1 154c
pcidev $rp/0000:0e:02.0 0000:0e:02.0 8086 154c iavf
vf $rp/0000:0e:00.0 0 $rp/0000:0e:02.0
pcidev $rp/0000:0f:00.0 0000:0f:00.0 8086 1583 i40e
sriov $rp/0000:0f:00.0 64 0 16 1 154c
pcidev $rp/0000:0f:02.0 0000:0f:02.0 8086 154c iavf
vf $rp/0000:0f:00.0 0 $rp/0000:0f:02.0
# Interfaces: one whose device link leaves the root, one dangling entry.
mkdir -p devices/virtual/net/escape0
ln -s ../../../../../.. devices/virtual/net/escape0/device
link devices/virtual/net/escape0 class/net/escape0
ln -s ../../devices/virtual/net/gone0 class/net/gone0
