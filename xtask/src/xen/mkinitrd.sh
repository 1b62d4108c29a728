#!/bin/bash
# Builds the lab's dom0 initramfs from Debian's packages unpacked in $LAB/root
# (`cargo xtask xen-lab` runs it; adapted from /work/shared/xen-lab/mkinitrd.sh).
# In: $LAB/root (dpkg -x of the packages), $LAB/guests (images, .cfg files, plan),
#     $LAB/dom0-init, $LAB/vif-bridge. Out: $LAB/build/{xen,vmlinuz,dom0.cpio.gz}.
set -euo pipefail
R=$LAB/root; B=$LAB/build
KVER=$(ls $R/lib/modules | head -n1)
KMOD=$R/lib/modules/$KVER/kernel
BB=$R/bin/busybox
mkdir -p $B
zcat $R/boot/xen-4.17-amd64.gz > $B/xen          # QEMU's multiboot loader wants the ELF
cp $R/boot/vmlinuz-$KVER $B/vmlinuz
D=$B/dom0-initrd
rm -rf $D
mkdir -p $D/bin $D/sbin $D/usr/bin $D/usr/sbin $D/proc $D/sys $D/dev $D/run $D/tmp $D/etc $D/lib/modules $D/var
cp $BB $D/bin/busybox
for a in $($BB --list-full); do [ -e $D/$a ] || ln -s /bin/busybox $D/$a; done
ln -sf ../run $D/var/run
cp $LAB/dom0-init $D/init && chmod +x $D/init
mkdir -p $D/usr/lib/xen-4.17/bin $D/lib64 $D/lib/x86_64-linux-gnu $D/usr/lib/x86_64-linux-gnu \
         $D/etc/xen/scripts $D/guests $D/var/lib $D/var/log
for b in xl xenstored xenconsoled xenconsole xen-init-dom0 libxl-save-helper; do
  cp -a $R/usr/lib/xen-4.17/bin/$b $D/usr/lib/xen-4.17/bin/
done
cp -a $R/usr/bin/xenstore $D/usr/bin/
for t in read write rm ls list exists chmod watch; do ln -sf xenstore $D/usr/bin/xenstore-$t; done
export LD_LIBRARY_PATH=$R/lib/x86_64-linux-gnu:$R/usr/lib/x86_64-linux-gnu
for f in $D/usr/lib/xen-4.17/bin/* $D/usr/bin/xenstore; do ldd $f | awk '/=>/ {print $1}'; done \
  | sort -u | while read lib; do
  for dir in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
    if [ -e $R/$dir/$lib ]; then cp -L $R/$dir/$lib $D/$dir/$lib; continue 2; fi
  done
  echo "missing library $lib" >&2; exit 1
done
cp -L $R/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 $D/lib/x86_64-linux-gnu/
# glibc dlopen()s libgcc_s for pthread_cancel; xl aborts at exit without it (ldd does not show it)
cp -L $R/lib/x86_64-linux-gnu/libgcc_s.so.1 $D/lib/x86_64-linux-gnu/
ln -sf /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 $D/lib64/ld-linux-x86-64.so.2
cp $R/etc/xen/xl.conf $D/etc/xen/
cp $LAB/vif-bridge $D/etc/xen/scripts/vif-bridge && chmod +x $D/etc/xen/scripts/vif-bridge
for m in drivers/xen/xen-evtchn drivers/xen/xen-privcmd drivers/xen/xenfs/xenfs drivers/xen/xen-gntdev \
         drivers/xen/xen-gntalloc net/llc/llc net/802/stp net/bridge/bridge drivers/net/xen-netback/xen-netback; do
  cp $KMOD/$m.ko $D/lib/modules/
done
cp -a $LAB/guests/. $D/guests/
(cd $D && find . | $BB cpio -o -H newc 2>/dev/null) | gzip -1 > $B/dom0.cpio.gz
