#!/usr/bin/env python3
"""Small helpers for bench/run (standard library only).

Subcommands:
  freeports N                 print N free TCP ports on 127.0.0.1, one per line
  mkfiles DIR COUNT           create COUNT empty files f0000000.. in DIR
  mem PID [TAG]                  print JSON: VmHWM/VmRSS/Pss of PID and of PID plus all descendants
  torture-ops LOG             print the mean ops/s of an smbtorture smb2.bench.* run
  report SAMPLES META OUTJSON OUTMD   medians, ratios, markdown table and JSON
"""

import json
import os
import re
import socket
import statistics
import sys


def freeports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    for s in socks:
        print(s.getsockname()[1])
    for s in socks:
        s.close()


def mkfiles(d, count):
    os.makedirs(d, exist_ok=True)
    for i in range(count):
        fd = os.open(os.path.join(d, "f%07d" % i), os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)


def _status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(root):
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces/parentheses: ppid is the 2nd field after the last ')'
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def mem(pid, tag=None):
    procs = _descendants(pid)
    res = {
        "pid": pid,
        "processes": len(procs),
        "parent_hwm_kib": _status_kb(pid, "VmHWM"),
        "parent_rss_kib": _status_kb(pid, "VmRSS"),
        "sum_hwm_kib": sum(_status_kb(p, "VmHWM") for p in procs),
        "sum_rss_kib": sum(_status_kb(p, "VmRSS") for p in procs),
        "sum_pss_kib": sum(_pss_kb(p) for p in procs),
    }
    if tag:
        res["tag"] = tag
    print(json.dumps(res))


def torture_ops(path):
    """smbtorture smb2.bench.echo and path-contention-shared print, once a second,
    `N.NN second: op[num/s=X,...] op2[num/s=Y,...]`; ops/s = mean over seconds of the sum over ops.
    smb2.bench.oplock1 rewrites `X ops/second` (the running average over the whole run) with
    carriage returns; ops/s = its last value."""
    text = open(path, errors="replace").read()
    if "success:" not in text:
        sys.exit("no success line")
    running = re.findall(r"([\d.]+) ops/second", text)
    if running and "num/s=" not in text:
        print("%.1f" % float(running[-1]))
        return
    chunks = re.split(r"\d+\.\d+ seconds?:", text)[1:]
    per_sec = []
    for c in chunks:
        nums = [int(x) for x in re.findall(r"\w+\[num/s=(\d+)", c)]
        if nums:
            per_sec.append(sum(nums))
    if not per_sec:
        sys.exit("no num/s figures")
    print("%.1f" % statistics.mean(per_sec))


# ---------------------------------------------------------------- report

# id -> (label, unit, reference server, target ratio shoal/reference, direction)
# direction "ge": ratio must be >= target (throughput); "le": ratio must be <= target (time, memory).
WORKLOADS = [
    ("smb_get_plain", "smbclient get {big} (plain, signed)", "MiB/s", "samba", 1.3, "ge"),
    ("smb_put_plain", "smbclient put {big} (plain, signed)", "MiB/s", "samba", 1.3, "ge"),
    ("smb_get_aes128gcm", "smbclient get {big} (AES-128-GCM)", "MiB/s", "samba", 1.5, "ge"),
    ("smb_put_aes128gcm", "smbclient put {big} (AES-128-GCM)", "MiB/s", "samba", 1.5, "ge"),
    ("smb_get_aes256gcm", "smbclient get {big} (AES-256-GCM)", "MiB/s", "samba", 1.5, "ge"),
    ("smb_put_aes256gcm", "smbclient put {big} (AES-256-GCM)", "MiB/s", "samba", 1.5, "ge"),
    ("smb_echo", "smbtorture smb2.bench.echo ({tl} s)", "ops/s", "samba", 1.5, "ge"),
    ("smb_path_contention", "smbtorture smb2.bench.path-contention-shared ({tl} s)", "ops/s", "samba", 1.5, "ge"),
    ("smb_oplock1", "smbtorture smb2.bench.oplock1 ({tl} s, batch oplock breaks)", "ops/s", "samba", 1.0, "ge"),
    ("nfs_get", "nfs-cp get {nfsbig}", "MiB/s", "ganesha", 1.5, "ge"),
    ("nfs_put", "nfs-cp put {nfsbig}", "MiB/s", "ganesha", 1.5, "ge"),
    ("smb_ls", "smbclient ls, {entries} entries", "s", "samba", 0.5, "le"),
    ("nfs_ls", "nfs-ls, {entries} entries", "s", "ganesha", 0.5, "le"),
    ("rss_idle_samba", "peak RSS idle (VmHWM, all processes)", "MiB", "samba", 1.0, "le"),
    ("rss_idle_ganesha", "peak RSS idle (VmHWM)", "MiB", "ganesha", None, "le"),
    ("rss_sessions", "peak RSS with {sessions} idle SMB sessions (VmHWM sum)", "MiB", "samba", None, "le"),
    ("rss_per_session", "peak RSS per idle SMB session (VmHWM sum)", "KiB", "samba", 1.0, "le"),
    ("pss_sessions", "PSS with {sessions} idle SMB sessions (info)", "MiB", "samba", None, "le"),
]


def fmt(v, unit):
    if v is None:
        return None
    if unit == "s":
        return "%.3f" % v
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.2f" % v if abs(v) < 10 else "%.1f" % v


def fmt_ratio(r):
    if r is None:
        return "n/a"
    return "%.2f" % r if r >= 0.1 else "%.4f" % r


def report(samples_path, meta_path, out_json, out_md):
    meta = json.load(open(meta_path))
    samples = {}
    with open(samples_path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            wl, server, run, value, err = (line.split("\t") + [""] * 5)[:5]
            samples.setdefault((wl, server), []).append(
                {"run": int(run), "value": float(value) if value else None, "error": err or None})

    names = {"smbd": "Samba", "samba": "Samba", "ganesha": "ganesha", "shoal": "shoal"}
    rows, out = [], []
    for wid, label, unit, ref, target, direction in WORKLOADS:
        label = label.format(**meta["labels"])
        entry = {"id": wid, "workload": label, "unit": unit, "reference": names[ref],
                 "target_ratio": target, "target_direction": direction, "servers": {}}
        med = {}
        for server in ("shoal", ref):
            ss = samples.get((wid, server), [])
            if not ss:
                continue
            ok = [s["value"] for s in ss if s["value"] is not None]
            errs = [s["error"] for s in ss if s["error"]]
            m = statistics.median(ok) if ok and not errs else None
            med[server] = m
            entry["servers"][server] = {"median": m, "samples": ss,
                                        "error": errs[0] if errs else None}
        if not entry["servers"]:
            continue
        ratio = None
        if med.get("shoal") is not None and med.get(ref):
            ratio = med["shoal"] / med[ref]
        entry["ratio"] = ratio
        verdict = ""
        if target is not None and ratio is not None:
            good = ratio >= target if direction == "ge" else ratio <= target
            verdict = "yes" if good else "no"
        elif target is not None:
            verdict = "n/a"
        entry["target_met"] = verdict or None
        out.append(entry)

        def cell(server):
            s = entry["servers"].get(server)
            if s is None:
                return "not run"
            if s["error"]:
                e = s["error"].replace("|", "/")
                return "n/a (error: %s)" % e
            return fmt(s["median"], unit)

        tgt = "" if target is None else ("≥ %.1f" % target if direction == "ge" else "≤ %.1f" % target)
        rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, unit, cell("shoal"), "%s: %s" % (names[ref], cell(ref)),
            fmt_ratio(ratio), tgt, verdict))

    md = ["### shoal vs Samba / nfs-ganesha — %s run, %s (%s runs each, medians)" % (
        meta["mode"], meta["started"], meta["runs"]), "",
        "| workload | unit | shoal | reference | ratio shoal/ref | target | met |",
        "|---|---|---|---|---|---|---|"] + rows
    md.append("")
    md.append("%s (git %s); %s; %s; %s; %s CPUs; kernel %s; load average %s" % (
        meta.get("shoal_version", "?"), meta.get("git", "?"), meta.get("samba_version", "?"),
        meta.get("ganesha_version", "?"), meta.get("libnfs", "?"), meta.get("cpus", "?"),
        meta.get("kernel", "?"), meta.get("loadavg", "?")))
    if meta.get("notes"):
        for n in meta["notes"]:
            md.append("note: " + n)
    text = "\n".join(md) + "\n"
    with open(out_md, "w") as f:
        f.write(text)
    memory = []
    mem_log = os.path.join(meta.get("workdir", ""), "mem.jsonl")
    if os.path.exists(mem_log):
        memory = [json.loads(l) for l in open(mem_log) if l.strip()]
    with open(out_json, "w") as f:
        json.dump({"meta": meta, "results": out, "memory_raw": memory}, f, indent=2)
        f.write("\n")
    sys.stdout.write(text)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "freeports":
        freeports(int(args[0]))
    elif cmd == "mkfiles":
        mkfiles(args[0], int(args[1]))
    elif cmd == "mem":
        mem(int(args[0]), args[1] if len(args) > 1 else None)
    elif cmd == "torture-ops":
        torture_ops(args[0])
    elif cmd == "report":
        report(*args)
    else:
        sys.exit("unknown subcommand " + cmd)


if __name__ == "__main__":
    main()
