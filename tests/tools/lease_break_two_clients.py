"""Two SMB clients and one file: A holds an RWH lease and has written; B opens the file for
writing; A receives the lease break (RWH -> RH, acknowledgment required), flushes and
acknowledges; B's CREATE, which waited for that, completes and B reads A's bytes.

With `nfs NFS_OP URL` after those (the tests' nfs-op tool and the export's URL), the second
client is an NFSv3 WRITE instead: it gets NFS3ERR_JUKEBOX (the tool fails) while the break is
outstanding, A loses write caching, acknowledges, and the retried WRITE goes through.

Usage: lease_break_two_clients.py HOST PORT SHARE USER PASSWORD [nfs NFS_OP URL]

smbprotocol 1.17 has no API for server-initiated messages (its receive thread looks every
MessageId up among its outstanding requests), so the break notification (MessageId all ones)
is caught by registering a stand-in request under that id, and the acknowledgment is sent as
a small structure of our own.
"""
import struct
import sys
import threading
import uuid
from collections import OrderedDict

from smbprotocol.connection import Commands, Connection, Dialects
from smbprotocol.create_contexts import (CreateContextName, SMB2CreateContextRequest,
                                         SMB2CreateRequestLeaseV2)
from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                              FilePipePrinterAccessMask, ImpersonationLevel, Open,
                              RequestedOplockLevel, ShareAccess)
from smbprotocol.session import Session
from smbprotocol.structure import BytesField, IntField, Structure
from smbprotocol.tree import TreeConnect

host, port, share, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
nfs = sys.argv[6:9] if len(sys.argv) > 8 and sys.argv[6] == "nfs" else None
R, H, W = 1, 2, 4
NOTIFY_ID = 0xFFFFFFFFFFFFFFFF


class Notification:
    """Stands in for a request under MessageId all ones: the receive thread stores the
    unsolicited message here and sets the event."""

    class _Reserved:
        @staticmethod
        def get_value():
            return 0

    def __init__(self):
        self.session_id = None
        self.async_id = None
        self.response = None
        self.message = {"reserved": Notification._Reserved()}
        self.response_event = threading.Event()
        self.response_event_lock = threading.Lock()


class LeaseBreakAck(Structure):
    """MS-SMB2 2.2.24.2."""

    COMMAND = Commands.SMB2_OPLOCK_BREAK

    def __init__(self):
        self.fields = OrderedDict([
            ("structure_size", IntField(size=2, default=36)),
            ("reserved", IntField(size=2)),
            ("flags", IntField(size=4)),
            ("lease_key", BytesField(size=16)),
            ("lease_state", IntField(size=4)),
            ("lease_duration", IntField(size=8)),
        ])
        super().__init__()


def client():
    conn = Connection(uuid.uuid4(), host, port)
    conn.connect(Dialects.SMB_3_0_2)
    sess = Session(conn, user, password)
    sess.connect()
    tree = TreeConnect(sess, rf"\\{host}\{share}")
    tree.connect()
    return conn, sess, tree


def lease_ctx(key, state):
    lease = SMB2CreateRequestLeaseV2()
    lease["lease_key"] = key
    lease["lease_state"] = state
    lease["lease_flags"] = 0
    lease["lease_duration"] = 0
    lease["parent_lease_key"] = b"\x00" * 16
    lease["epoch"] = b"\x00\x00"
    lease["reserved"] = 0
    ctx = SMB2CreateContextRequest()
    ctx["buffer_name"] = CreateContextName.SMB2_CREATE_REQUEST_LEASE
    ctx["buffer_data"] = lease
    return ctx


def open_rw(tree, name, disposition, contexts, oplock):
    f = Open(tree, name)
    resp = f.create(ImpersonationLevel.Impersonation,
                    FilePipePrinterAccessMask.FILE_READ_DATA
                    | FilePipePrinterAccessMask.FILE_WRITE_DATA
                    | FilePipePrinterAccessMask.FILE_READ_ATTRIBUTES,
                    FileAttributes.FILE_ATTRIBUTE_NORMAL,
                    ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE
                    | ShareAccess.FILE_SHARE_DELETE,
                    disposition, CreateOptions.FILE_NON_DIRECTORY_FILE,
                    create_contexts=contexts, oplock_level=oplock)
    return f, resp


conn_a, sess_a, tree_a = client()
conn_b, sess_b, tree_b = client()
name = "lease-%s.bin" % uuid.uuid4().hex[:8]
key_a = uuid.uuid4().bytes
payload = b"written by A under its RWH lease\n" * 100

fa, resp = open_rw(tree_a, name, CreateDisposition.FILE_OVERWRITE_IF, [lease_ctx(key_a, R | W | H)],
                   RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE)
granted = [c for c in (resp or []) if hasattr(c, "fields") and "lease_state" in c.fields]
assert fa.oplock_level == RequestedOplockLevel.SMB2_OPLOCK_LEVEL_LEASE, fa.oplock_level
assert granted and granted[0]["lease_state"].get_value() == R | W | H, resp
print("A granted RWH")
fa.write(payload, 0)

notification = Notification()
conn_a.outstanding_requests[NOTIFY_ID] = notification

if nfs:
    import subprocess
    import time
    _, nfs_op, url = nfs
    written = {}

    def nfs_writes():
        # NFS3ERR_JUKEBOX makes the tool fail: retry as an NFS client does, for up to 40 s.
        deadline = time.time() + 40
        while time.time() < deadline:
            r = subprocess.run([nfs_op, url, "write", "/" + name, "NFS!"], capture_output=True)
            written.setdefault("tries", 0)
            written["tries"] += 1
            if r.returncode == 0:
                written["ok"] = True
                return
            time.sleep(0.2)

    tn = threading.Thread(target=nfs_writes)
    tn.start()
    assert notification.response_event.wait(30), "A received no lease break for the NFS write"
    body = notification.response["data"].get_value()
    flags = struct.unpack_from("<I", body, 4)[0]
    current, new = struct.unpack_from("<II", body, 24)
    assert body[8:24] == key_a and current == R | W | H, (body[8:24], current)
    assert not new & W and flags & 1, (new, flags)
    print("A break RWH->%d for the NFS write" % new)
    time.sleep(1)
    assert tn.is_alive() and "ok" not in written, "the NFS write did not wait for the break"
    fa.flush()
    ack = LeaseBreakAck()
    ack["lease_key"] = key_a
    ack["lease_state"] = new
    req = conn_a.send(ack, sess_a.session_id, tree_a.tree_connect_id)
    conn_a.receive(req)
    print("A acknowledged", new)
    tn.join(45)
    assert written.get("ok"), written
    print("NFS write went through after %d tries" % written["tries"])
    got = fa.read(0, 8)
    assert got == b"NFS!" + payload[4:8], got
    print("A reads the NFS bytes")
    fa.close()
    conn_a.outstanding_requests.pop(NOTIFY_ID, None)
    conn_a.disconnect(True)
    conn_b.disconnect(True)
    print("ok")
    sys.exit(0)

b_result = {}


def b_opens():
    try:
        fb, _ = open_rw(tree_b, name, CreateDisposition.FILE_OPEN, None,
                        RequestedOplockLevel.SMB2_OPLOCK_LEVEL_NONE)
        b_result["open"] = fb
    except Exception as e:  # reported by the main thread
        b_result["error"] = e


tb = threading.Thread(target=b_opens)
tb.start()
assert notification.response_event.wait(30), "A received no lease break"
hdr = notification.response
assert hdr["command"].get_value() == Commands.SMB2_OPLOCK_BREAK, hdr
body = hdr["data"].get_value()
size, epoch, flags = struct.unpack_from("<HHI", body, 0)
key = body[8:24]
current, new = struct.unpack_from("<II", body, 24)
assert size == 44 and key == key_a, (size, key)
assert (current, new) == (R | W | H, R | H), (current, new)
assert flags & 1, "break without ACK_REQUIRED"
print("A break RWH->RH epoch", epoch)
# B must still be waiting: its CREATE completes only after A's acknowledgment.
assert tb.is_alive(), b_result

fa.flush()
ack = LeaseBreakAck()
ack["lease_key"] = key_a
ack["lease_state"] = R | H
req = conn_a.send(ack, sess_a.session_id, tree_a.tree_connect_id)
ack_resp = conn_a.receive(req)
ack_body = ack_resp["data"].get_value()
assert struct.unpack_from("<H", ack_body, 0)[0] == 36, ack_body
assert struct.unpack_from("<I", ack_body, 24)[0] == R | H, ack_body
print("A acknowledged RH")

tb.join(30)
assert not tb.is_alive(), "B still waiting after the acknowledgment"
assert "error" not in b_result, b_result.get("error")
fb = b_result["open"]
got = fb.read(0, len(payload))
assert got == payload, got[:64]
print("B read A's bytes")
fb.close()
fa.close()
conn_a.outstanding_requests.pop(NOTIFY_ID, None)
for conn in (conn_a, conn_b):
    conn.disconnect(True)
print("ok")
