#!/bin/sh
# dom0 /init of `cargo xtask xen-lab` (xtask/src/xen/lab.rs writes it into the initramfs).
# Starts the Xen services, a bridge xenbr0 = 10.0.0.1/24, then runs each line of /guests/plan:
#   NAME run          xl create -c /guests/NAME.cfg: the appliance runs to its end on the console
#   NAME http PORT    xl create, then GET / from dom0 (nc) until it answers 200
#   NAME echo PORT    xl create, then a line through nc 10.0.0.2 PORT, which must come back
# and powers off. Lines starting with "LAB:" are what xtask reads.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/lib/xen-4.17/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/xenstored /var/lock /var/log/xen/console /var/lib/xen /var/lib/xenstored /tmp
up() { cut -d' ' -f1 /proc/uptime; }
for m in xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc llc stp bridge xen-netback; do
  insmod /lib/modules/$m.ko || echo "LAB: insmod $m failed"
done
mount -t xenfs xenfs /proc/xen
xenstored --pid-file /run/xen/xenstored.pid
xen-init-dom0 >/dev/null
xenconsoled --pid-file=/run/xen/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
brctl addbr xenbr0 && ip addr add 10.0.0.1/24 dev xenbr0 && ip link set xenbr0 up
ip link set lo up
echo "LAB: READY uptime $(up)"

gone() { ! xl list | grep -q "morgana-$1 "; }
wait_gone() { i=0; while ! gone $1 && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; }
guest_log() {
  echo "LAB: console log of morgana-$1:"
  cat /var/log/xen/console/guest-morgana-$1.log 2>/dev/null
  echo "LAB: end of console log"
}
while read name check port; do
  [ -n "$name" ] || continue
  echo "LAB: START $name $check uptime $(up)"
  case "$check" in
    run)
      timeout 120 xl create -c /guests/$name.cfg </dev/console
      echo "LAB: xl create rc=$? uptime $(up)"
      wait_gone $name
      if gone $name; then echo "LAB: GONE $name uptime $(up)"; else echo "LAB: STILL THERE $name"; fi
      ;;
    http|echo)
      xl create /guests/$name.cfg
      echo "LAB: xl create rc=$? uptime $(up)"
      ok=0; i=0
      while [ $i -lt 90 ]; do
        if [ "$check" = http ]; then
          # busybox-static's wget fails at once in this dom0 (its name lookup, even for an
          # address); an HTTP/1.0 request through nc is enough.
          printf 'GET / HTTP/1.0\r\nHost: 10.0.0.2\r\n\r\n' | nc -w 3 10.0.0.2 $port > /tmp/body 2>/dev/null
          head -n 1 /tmp/body | grep -q '^HTTP/1.[01] 200' && { ok=1; break; }
        else
          r=$(echo "echo through netfront" | nc -w 3 10.0.0.2 $port 2>/dev/null)
          [ "$r" = "echo through netfront" ] && { ok=1; break; }
        fi
        sleep 1; i=$((i+1))
      done
      if [ $ok = 1 ]; then
        echo "LAB: $check $name OK after ${i}s uptime $(up)"
        [ "$check" = http ] && { echo "LAB: response: $(head -c 160 /tmp/body | tr '\r\n' '  ')"; }
      else
        echo "LAB: $check $name FAILED; diagnostics:"
        ping -c 2 -W 2 10.0.0.2
        ip neigh show
        printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 10.0.0.2 $port | head -c 300; echo
        ip -s link show 2>/dev/null | grep -A5 vif
      fi
      xl destroy morgana-$name 2>/dev/null
      guest_log $name
      ;;
  esac
  xl destroy morgana-$name 2>/dev/null
  echo "LAB: xl dmesg:"; xl dmesg -c | grep -v -E 'HVM d[0-9]+(v[0-9]+)? save:|HVM[0-9]+ restore:' | tail -n 15
  echo "LAB: END $name uptime $(up)"
done < /guests/plan
echo "LAB: DONE uptime $(up)"
[ -n "$labshell" ] && setsid cttyhack sh
poweroff -f
