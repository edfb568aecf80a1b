#!/usr/bin/env python3
"""Builds fuzz/seeds/{smb,nfs}_dispatch/ from client byte streams recorded by a logging TCP
proxy between real clients (smbclient, smbtorture, libnfs nfs-cp/nfs-ls/nfs-cat) and shoal
(see fuzz/README.md). Usage: make_seeds.py SMB_DIR NFS_DIR OUT_DIR; *_DIR hold one file per
connection with the client-to-server bytes.

SMB: the messages before and including the first TREE_CONNECT are dropped (the harness does
its own NEGOTIATE / SESSION_SETUP / TREE_CONNECT to data; a first tree connect to another
share is kept, see smb_seed), and so is FSCTL_VALIDATE_NEGOTIATE_INFO
(it describes the client's NEGOTIATE, not the harness's: the server would close); every later message becomes a record with
control 0x07 (patch MessageId, SessionId, TreeId), | 0x08 when the client signed it. WRITE
payloads are cut to 512 bytes.
NFS: the MOUNT calls are dropped (the harness mounts); each wire handle (length + bytes
starting with the export id of /data) is replaced by a marker F7 48 00 k, k numbering the
distinct handles as the harness's table does (0 = /data root, then in order of appearance,
from 2 on).
"""
import os, struct, sys

MAX_RECORDS = 64


def frames(data, rm):
    i = 0
    while i + 4 <= len(data):
        if rm:  # ONC RPC record marking, fragments joined
            rec = b""
            while i + 4 <= len(data):
                (w,) = struct.unpack(">I", data[i:i + 4])
                n = w & 0x7FFFFFFF
                rec += data[i + 4:i + 4 + n]
                i += 4 + n
                if w & 0x80000000:
                    break
            yield rec
        else:
            n = struct.unpack(">I", data[i:i + 4])[0] & 0xFFFFFF
            yield data[i + 4:i + 4 + n]
            i += 4 + n


def smb_seed(data):
    out, seen_tree, n, shift_tree = bytearray([0]), False, 0, 0
    for m in frames(data, False):
        if len(m) < 64 or m[:4] != b"\xfeSMB":
            continue
        cmd = struct.unpack("<H", m[12:14])[0]
        if not seen_tree:
            if cmd != 3:
                continue
            seen_tree = True
            off, ln = struct.unpack("<HH", m[68:72])
            if m[off:off + ln].decode("utf-16-le", "replace").lower().endswith("\\data"):
                continue
            # A first tree other than \\srv\data (smbclient -L: IPC$): kept, and since the
            # harness's data tree is 1, this tree and any later one get the next ids: tree
            # ids are not patched (control without 0x04) but shifted by one here.
            shift_tree = 1
        m = bytearray(m)
        if shift_tree and not struct.unpack("<I", m[16:20])[0] & 2:  # sync header
            (tid,) = struct.unpack("<I", m[36:40])
            if tid:
                m[36:40] = struct.pack("<I", tid + shift_tree)
        if cmd == 11 and m[68:72] == struct.pack("<I", 0x00140204):
            continue  # VALIDATE_NEGOTIATE_INFO of the client's own NEGOTIATE: would not match
        if cmd == 9 and len(m) > 64 + 48 + 512:  # WRITE: cut the payload
            off = struct.unpack("<H", m[66:68])[0]
            m[68:72] = struct.pack("<I", 512)
            m = m[:max(off, 112) + 512]
        if len(m) > 4096:
            continue
        flags = struct.unpack("<I", m[16:20])[0]
        ctl = (0x03 if shift_tree else 0x07) | (0x08 if flags & 8 else 0)
        out += bytes([ctl]) + struct.pack("<H", len(m)) + m
        n += 1
        if n == MAX_RECORDS:
            break
    return bytes(out) if n else None


def fnv1a(b):
    h = 0xCBF29CE484222325
    for c in b:
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return struct.pack(">Q", h)


def nfs_seed(data):
    eid = fnv1a(b"/data")
    table = {}
    out, n = bytearray([0]), 0
    for rec in frames(data, True):
        if len(rec) < 24 or struct.unpack(">I", rec[12:16])[0] != 100003:
            continue
        rec = bytearray(rec)
        i, new = 0, bytearray()
        while i < len(rec):
            if i % 4 == 0 and i + 4 <= len(rec):
                (ln,) = struct.unpack(">I", rec[i:i + 4])
                h = bytes(rec[i + 4:i + 4 + ln])
                if 12 <= ln <= 64 and len(h) == ln and h.startswith(eid):
                    k = table.setdefault(h, 0 if not table else len(table) + 1)
                    new += bytes([0xF7, 0x48, 0x00, k])
                    i += 4 + ln + (-ln % 4)
                    continue
            new.append(rec[i])
            i += 1
        if len(new) > 4096:
            continue
        out += struct.pack("<H", len(new)) + new
        n += 1
        if n == MAX_RECORDS:
            break
    return bytes(out) if n else None


def xdr_u32(*ws):
    return b"".join(struct.pack(">I", w) for w in ws)


def xdr_str(b):
    return struct.pack(">I", len(b)) + b + b"\0" * (-len(b) % 4)


def fh(k):
    return bytes([0xF7, 0x48, 0x00, k])


SATTR_NONE = xdr_u32(0, 0, 0, 0, 0, 0)
SATTR_MODE = xdr_u32(1, 0o644, 0, 0, 0, 0, 0)
SATTR_SIZE0 = xdr_u32(0, 0, 0, 1) + struct.pack(">Q", 0) + xdr_u32(0, 0)


def nfs_call(xid, proc, args, uid=0):
    cred = xdr_u32(0) + xdr_str(b"fz") + xdr_u32(uid, uid, 0)
    return xdr_u32(xid, 0, 2, 100003, 3, proc, 1) + xdr_str(cred) + xdr_u32(0, 0) + args


def nfs_manual():
    """Every NFSv3 procedure in a plausible order: handle 2 = dir d, 3 = file d/f,
    4 = symlink d/s (from the replies that create them)."""
    q = struct.pack(">Q", 0)
    calls = [
        (0, b""),
        (9, fh(0) + xdr_str(b"d") + SATTR_MODE),
        (8, fh(2) + xdr_str(b"f") + xdr_u32(0) + SATTR_MODE),
        (7, fh(3) + q + xdr_u32(5, 2) + xdr_str(b"hello")),
        (6, fh(3) + q + xdr_u32(100)),
        (2, fh(3) + SATTR_SIZE0 + xdr_u32(0)),
        (10, fh(2) + xdr_str(b"s") + SATTR_NONE + xdr_str(b"../f")),
        (5, fh(4)),
        (15, fh(3) + fh(2) + xdr_str(b"l")),
        (14, fh(2) + xdr_str(b"l") + fh(0) + xdr_str(b"m")),
        (3, fh(2) + xdr_str(b"..")),
        (4, fh(3) + xdr_u32(0x3F)),
        (1, fh(3)),
        (17, fh(0) + q + q + xdr_u32(512, 4096)),
        (16, fh(2) + q + q + xdr_u32(4096)),
        (18, fh(0)),
        (19, fh(0)),
        (20, fh(0)),
        (21, fh(3) + q + xdr_u32(0)),
        (11, fh(2) + xdr_str(b"p") + xdr_u32(7) + SATTR_NONE),
        (8, fh(1) + xdr_str(b"ro") + xdr_u32(0) + SATTR_MODE),
        (12, fh(0) + xdr_str(b"m")),
        (12, fh(2) + xdr_str(b"f")),
        (13, fh(0) + xdr_str(b"d")),
    ]
    out = bytearray([0])
    for i, (proc, args) in enumerate(calls):
        rec = nfs_call(0x100 + i, proc, args)
        out += struct.pack("<H", len(rec)) + rec
    return bytes(out)


def main():
    smb_dir, nfs_dir, out_dir = sys.argv[1:4]
    for kind, src, fn in (("smb_dispatch", smb_dir, smb_seed), ("nfs_dispatch", nfs_dir, nfs_seed)):
        dst = os.path.join(out_dir, kind)
        os.makedirs(dst, exist_ok=True)
        for name in sorted(os.listdir(src)):
            seed = fn(open(os.path.join(src, name), "rb").read())
            if seed:
                with open(os.path.join(dst, name.replace(".bin", ".seed")), "wb") as f:
                    f.write(seed)
    with open(os.path.join(out_dir, "nfs_dispatch", "every-proc.seed"), "wb") as f:
        f.write(nfs_manual())


main()
