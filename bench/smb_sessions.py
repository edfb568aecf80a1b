#!/usr/bin/env python3
"""Open N authenticated, idle SMB sessions (one TCP connection each) and hold them.

    smb_sessions.py HOST PORT USER PASSWORD N HOLD_SECONDS

Prints `ready N` once every session is up, then holds them until SIGTERM or HOLD_SECONDS pass,
then logs them off. On failure prints `error: ...` and exits 1.
Needs `smbprotocol` (bench/run uses the venv at .venv).
"""

import signal
import sys
import time
import uuid

from smbprotocol.connection import Connection
from smbprotocol.session import Session


def _term(_sig, _frame):
    raise SystemExit(0)


def main():
    signal.signal(signal.SIGTERM, _term)
    host, port, user, password, n, hold = sys.argv[1:7]
    port, n, hold = int(port), int(n), float(hold)
    held = []
    try:
        for i in range(n):
            conn = Connection(uuid.uuid4(), host, port, require_signing=True)
            conn.connect(timeout=10)
            held.append((conn, None))
            sess = Session(conn, user, password, require_encryption=False, auth_protocol="ntlm")
            sess.connect()
            held[-1] = (conn, sess)
    except Exception as e:  # noqa: BLE001 - report whatever went wrong, with the session number
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print("error: session %d of %d: %s: %s" % (len(held), n, type(e).__name__, msg[:200]),
              flush=True)
        close(held)
        sys.exit(1)
    print("ready %d" % len(held), flush=True)
    try:
        time.sleep(hold)
    except SystemExit:
        pass
    close(held)


def close(held):
    for conn, sess in held:
        try:
            if sess is not None:
                sess.disconnect()
        except Exception:  # noqa: BLE001
            pass
        try:
            conn.disconnect(close=True)
        except Exception:  # noqa: BLE001
            pass


if __name__ == "__main__":
    main()
