"""What the figure scripts share: free local ports and nearest-rank percentiles."""
import socket


def ports(n):
    """n distinct free ports on 127.0.0.1 (all held open until all are picked)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    out = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return out


def pct(xs, p):
    """The p-th percentile of xs, nearest rank."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
