"""CPU of a measured window, from /proc: the server's, and other processes' (plain python3).

  cpu.py snap FILE                                   every process's CPU ticks, now
  cpu.py diff A B REQUESTS --server PID... --self PID
      prints: server_ms_per_request=.. self_ms_per_request=.. foreign_pct=.. window_s=..

"server" is the processes below the given pids (the server, PostgreSQL's postmaster, Redis),
children that ended in the window included (a parent's counts take in the children it
reaped); "self" is the benchmark script and what it started otherwise (wrk, curl); what the
machine's CPUs spent besides, kernel threads included, is "foreign": load that shared the
machine during the window.
"""
import json
import os
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def snap():
    processes = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # from field 3 (state) on
        ppid, start = int(fields[1]), int(fields[19])
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        processes[pid] = [start, ppid, ticks]
    with open("/proc/stat") as f:
        user, nice, system, _, _, _, _, steal = (int(x) for x in f.readline().split()[1:9])
    # Busy time that processes account for (interrupts are left out: no process gets them).
    return {"time": time.time(), "busy": user + nice + system + steal, "processes": processes}


def below(processes, roots):
    """The pids of `roots` and of all their descendants."""
    children = {}
    for pid, (_, ppid, _) in processes.items():
        children.setdefault(str(ppid), []).append(pid)
    found, pending = set(), [str(r) for r in roots if str(r) in processes]
    while pending:
        pid = pending.pop()
        if pid not in found:
            found.add(pid)
            pending.extend(children.get(pid, []))
    return found


def diff(a, b, requests, server, own):
    window = b["time"] - a["time"]
    before, after = a["processes"], b["processes"]
    ours = below(after, server)
    mine = below(after, own) - ours
    spent = {"server": 0, "self": 0}
    for pid, (start, _, ticks) in after.items():
        old = before.get(pid)
        delta = ticks - old[2] if old and old[0] == start else ticks
        if pid in ours:
            spent["server"] += delta
        elif pid in mine:
            spent["self"] += delta
    # Other processes: what the machine spent less ours. Counting them one by one would
    # charge the window with the whole life of any child reaped in it (a compiler's, say).
    foreign = max(0, b["busy"] - a["busy"] - spent["server"] - spent["self"])
    capacity = window * TICKS * os.cpu_count()
    per_request = {k: 1000 * v / TICKS / max(requests, 1) for k, v in spent.items()}
    return (f"server_ms_per_request={per_request['server']:.3f} "
            f"self_ms_per_request={per_request['self']:.3f} "
            f"foreign_pct={100 * foreign / capacity:.1f} window_s={window:.1f}")


def main(args):
    if args[0] == "snap":
        with open(args[1], "w") as f:
            json.dump(snap(), f)
        return
    with open(args[1]) as f:
        a = json.load(f)
    with open(args[2]) as f:
        b = json.load(f)
    own_at = args.index("--self")
    server = args[args.index("--server") + 1:own_at]
    print(diff(a, b, int(args[3]), server, args[own_at + 1:]))


if __name__ == "__main__":
    main(sys.argv[1:])
