#!/usr/bin/env python3
"""Captures the real Linux frames that `packets.rs` holds (not run by the tests).

Run as root, with scapy installed, in a fresh network namespace:

    unshare -n python3 capture.py

A TAP device `tap0` carries 10.0.2.15 (the Linux kernel); this script plays the peer 10.0.2.2
with MAC 52:54:00:12:34:56, crafting its frames with scapy, and prints every frame as hex. The
frames marked KERNEL were built by the Linux kernel; a TAP device without IFF_VNET_HDR offloads
no checksum, so they are final. `packets.rs` holds the printed hex, split by layer.
"""
import fcntl, os, socket, struct, select, threading, time, sys
from scapy.all import Ether, ARP, IP, ICMP, UDP, TCP, Raw, IPOption_RR

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

PEER_MAC = "52:54:00:12:34:56"
PEER_IP = "10.0.2.2"
HOST_IP = "10.0.2.15"

fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"tap0", IFF_TAP | IFF_NO_PI))
os.system("ip link set lo up")
os.system("ip link set tap0 address 02:00:00:00:00:0f")
os.system(f"ip addr add {HOST_IP}/24 dev tap0")
os.system("ip link set tap0 up")
os.system("sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
os.system("sysctl -qw net.ipv4.ip_forward=1")
os.system(f"ip route add 10.0.3.0/24 via {PEER_IP}")
HOST_MAC = "02:00:00:00:00:0f"
time.sleep(0.3)


def drain(t=0.3):
    out = []
    end = time.time() + t
    while True:
        r, _, _ = select.select([fd], [], [], max(0, end - time.time()))
        if not r:
            return out
        out.append(os.read(fd, 65536))


def send(pkt):
    os.write(fd, bytes(pkt))


def show(name, frame):
    print(f"== {name} ({len(frame)} bytes)")
    print("   " + Ether(frame).summary())
    print("   " + frame.hex())


def want(frames, pred):
    for f in frames:
        if pred(Ether(f)):
            return f
    raise SystemExit(f"missing frame; got {[Ether(f).summary() for f in frames]}")


drain(0.5)  # router solicitations and the like

# ARP: our request, the kernel's reply.
req = Ether(dst="ff:ff:ff:ff:ff:ff", src=PEER_MAC) / ARP(
    op=1, hwsrc=PEER_MAC, psrc=PEER_IP, hwdst="00:00:00:00:00:00", pdst=HOST_IP)
show("PEER arp request", bytes(req))
send(req)
rep = want(drain(), lambda p: ARP in p and p[ARP].op == 2)
show("KERNEL arp reply", rep)

# ICMP echo: our request (payload like Linux ping's), the kernel's reply.
payload = bytes(range(0x10, 0x38))
echo = Ether(dst=HOST_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst=HOST_IP, id=0x4d2, flags="DF", ttl=64) / ICMP(
    type=8, id=0x1c2b, seq=1) / Raw(b"\x9c\x5e\x62\x66\x00\x00\x00\x00" + payload)
show("PEER icmp echo request", bytes(echo))
send(echo)
rep = want(drain(), lambda p: ICMP in p and p[ICMP].type == 0 and IPOption_RR not in p)
show("KERNEL icmp echo reply", rep)

# ICMP echo with the Record Route option: the kernel echoes the option back.
echo_rr = Ether(dst=HOST_MAC, src=PEER_MAC) / IP(
    src=PEER_IP, dst=HOST_IP, id=0x4d3, ttl=64, options=[IPOption_RR(routers=["0.0.0.0"] * 2)]) / ICMP(
    type=8, id=0x1c2b, seq=2) / Raw(b"rr-probe")
send(echo_rr)
rep = want(drain(), lambda p: ICMP in p and p[ICMP].type == 0)
show("KERNEL icmp echo reply with record route", rep)

# UDP: a datagram to a closed port draws a port unreachable.
udp_closed = Ether(dst=HOST_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst=HOST_IP, id=0x4d4, flags="DF") / UDP(
    sport=40000, dport=9) / Raw(b"discard me")
send(udp_closed)
rep = want(drain(), lambda p: ICMP in p and p[ICMP].type == 3)
show("KERNEL icmp port unreachable", rep)

# UDP: an echo server on 7 answers.
us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
us.bind((HOST_IP, 7))
def udp_echo():
    data, addr = us.recvfrom(2048)
    us.sendto(data, addr)
threading.Thread(target=udp_echo, daemon=True).start()
time.sleep(0.1)
udp_q = Ether(dst=HOST_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst=HOST_IP, id=0x4d5, flags="DF") / UDP(
    sport=40001, dport=7) / Raw(b"hello, morgana\n")
send(udp_q)
rep = want(drain(), lambda p: UDP in p and p[UDP].sport == 7)
show("KERNEL udp echo reply", rep)
udp_echo_reply = rep

# UDP fragments: a 3000-byte datagram with PMTU discovery off.
fs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fs.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
fs.bind((HOST_IP, 5000))
fs.sendto(bytes(i & 0xff for i in range(3000)), (PEER_IP, 6000))
frags = [f for f in drain() if IP in Ether(f) and Ether(f)[IP].proto == 17]
for i, f in enumerate(frags):
    show(f"KERNEL udp fragment {i}", f)

# Time exceeded: a forwarded packet with TTL 1.
fwd = Ether(dst=HOST_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst="10.0.3.5", id=0x4d6, ttl=1) / UDP(
    sport=40002, dport=33434) / Raw(b"traceroute")
send(fwd)
rep = want(drain(), lambda p: ICMP in p and p[ICMP].type == 11)
show("KERNEL icmp time exceeded", rep)

# TCP, active open by the kernel: SYN (MSS, SACK-permitted, timestamps, NOP, window scale).
conn_result = {}
def connect():
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.bind((HOST_IP, 45678))
    c.connect((PEER_IP, 80))
    c.sendall(b"GET / HTTP/1.1\r\nHost: 10.0.2.2\r\n\r\n")
    conn_result["sock"] = c
    time.sleep(1.5)
    c.close()
t = threading.Thread(target=connect, daemon=True)
t.start()
syn = want(drain(), lambda p: TCP in p and p[TCP].flags == "S")
show("KERNEL tcp syn", syn)
s = Ether(syn)
isn_k = s[TCP].seq
tsval_k = dict(s[TCP].options)["Timestamp"][0]
isn_p = 0x1000
synack = Ether(dst=HOST_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst=HOST_IP, id=0, flags="DF") / TCP(
    sport=80, dport=45678, flags="SA", seq=isn_p, ack=isn_k + 1, window=65160,
    options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1000, tsval_k)), ("NOP", None), ("WScale", 7)])
send(synack)
frames = drain(0.5)
ack = want(frames, lambda p: TCP in p and p[TCP].flags == "A" and len(p[TCP].payload) == 0)
show("KERNEL tcp ack of syn-ack", ack)
data = want(frames, lambda p: TCP in p and len(p[TCP].payload) > 0)
show("KERNEL tcp data (psh)", data)
d = Ether(data)
# Out-of-order data from the peer: bytes 10..20 of our stream, skipping 0..10: the kernel SACKs.
ooo = Ether(dst=HOST_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst=HOST_IP, id=1, flags="DF") / TCP(
    sport=80, dport=45678, flags="PA", seq=isn_p + 1 + 10, ack=d[TCP].seq + len(d[TCP].payload),
    window=509, options=[("NOP", None), ("NOP", None), ("Timestamp", (1010, dict(d[TCP].options)["Timestamp"][0]))]) / Raw(b"0123456789")
send(ooo)
sack = want(drain(), lambda p: TCP in p and any(o[0] == "SAck" for o in p[TCP].options))
show("KERNEL tcp dup ack with sack", sack)
t.join()
fin = want(drain(0.5), lambda p: TCP in p and "F" in str(p[TCP].flags))
show("KERNEL tcp fin", fin)

# TCP, passive open: our SYN to a listener draws the kernel's SYN-ACK.
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.bind((HOST_IP, 8080))
ls.listen()
syn2 = Ether(dst=HOST_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst=HOST_IP, id=0x4d7, flags="DF") / TCP(
    sport=50000, dport=8080, flags="S", seq=0x2000, window=64240,
    options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (2000, 0)), ("NOP", None), ("WScale", 7)])
send(syn2)
sa = want(drain(), lambda p: TCP in p and p[TCP].flags == "SA")
show("KERNEL tcp syn-ack", sa)
# A SYN to a closed port draws a RST.
syn3 = Ether(dst=HOST_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst=HOST_IP, id=0x4d8, flags="DF") / TCP(
    sport=50001, dport=8081, flags="S", seq=0x3000, window=64240, options=[("MSS", 1460)])
send(syn3)
rst = want(drain(), lambda p: TCP in p and "R" in str(p[TCP].flags))
show("KERNEL tcp rst", rst)

# Frames of the peer's own, not sent: a router's "fragmentation needed" quoting the start of the
# kernel's UDP echo reply, and a UDP datagram without a checksum.
frag_needed = Ether(dst=HOST_MAC, src=PEER_MAC) / IP(src="10.0.2.1", dst=HOST_IP, id=0x1234, ttl=64) / ICMP(
    type=3, code=4, nexthopmtu=1400) / Raw(udp_echo_reply[14:14 + 28])
show("PEER icmp frag needed", bytes(frag_needed))
no_checksum = Ether(dst=HOST_MAC, src=PEER_MAC) / IP(src=PEER_IP, dst=HOST_IP, id=0x4d9, flags="DF") / UDP(
    sport=40003, dport=7, chksum=0) / Raw(b"no checksum")
show("PEER udp without checksum", bytes(no_checksum))
