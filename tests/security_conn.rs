//! Connection slots (issue 11, item 3): clients that send requests and never read the replies
//! (NFS NULL floods, SMB ECHO floods after NEGOTIATE) must not pin the slots: a reply write
//! that makes no progress for `send_timeout_secs` closes the connection. Connections that have
//! not authenticated have a cap of their own, lower than the total, and a timeout; each client
//! address has a cap. Each test performs the attack against the release binary with a raw
//! client and shows that other clients are still served.

mod common;

use common::{connect_from, connect_reserved, run, Opts, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// NFS: raw ONC RPC over TCP.

const MOUNT: u32 = 100005;
const NFS: u32 = 100003;

fn rpc_call(xid: u32, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [xid, 0, 2, prog, vers, proc_] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    // AUTH_SYS: stamp, machine "t", uid 0, gid 0, no gids; verifier AUTH_NONE.
    let mut cred = Vec::new();
    for v in [0u32, 1] {
        cred.extend_from_slice(&v.to_be_bytes());
    }
    cred.extend_from_slice(b"t\0\0\0");
    for v in [0u32, 0, 0] {
        cred.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&(cred.len() as u32).to_be_bytes());
    b.extend_from_slice(&cred);
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(args);
    let mut rec = (0x8000_0000u32 | b.len() as u32).to_be_bytes().to_vec();
    rec.extend(b);
    rec
}

fn read_record(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h)?;
    let mut b = vec![0u8; (u32::from_be_bytes(h) & 0x7fff_ffff) as usize];
    s.read_exact(&mut b)?;
    Ok(b)
}

/// NFS NULL answered on `s` (false: the server closed or did not answer within 3 s).
fn nfs_null_served(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    if s.write_all(&rpc_call(77, NFS, 3, 0, &[])).is_err() {
        return false;
    }
    match read_record(s) {
        Ok(r) => r.get(..4) == Some(&77u32.to_be_bytes()[..]),
        Err(_) => false,
    }
}

fn nfs_connect(s: &Server) -> TcpStream {
    TcpStream::connect(("127.0.0.1", s.nfs_port)).unwrap()
}

/// MOUNT MNT "/data": the mountstat3.
fn nfs_mnt(s: &mut TcpStream) -> u32 {
    let mut args = 5u32.to_be_bytes().to_vec();
    args.extend_from_slice(b"/data\0\0\0");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&rpc_call(5, MOUNT, 3, 1, &args)).unwrap();
    let r = read_record(s).unwrap();
    // xid, REPLY, MSG_ACCEPTED, verf (flavor, len 0), SUCCESS, mountstat3.
    assert_eq!(&r[8..12], &[0, 0, 0, 0], "MNT not accepted");
    u32::from_be_bytes(r[24..28].try_into().unwrap())
}

/// Connected, never reading, writing `request` (a batch of calls) until the server stops
/// taking them: its reply writer is blocked, its calls in flight wait for the writer, its
/// reader has stopped. Returns the socket and when it was pinned.
fn flood_until_pinned(stream: TcpStream, request: Vec<u8>) -> (TcpStream, Instant) {
    let mut s = stream;
    s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut sent = 0usize;
    loop {
        match s.write(&request) {
            Ok(n) => sent += n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return (s, Instant::now());
            }
            Err(e) => panic!("flood write failed after {sent} bytes: {e}"),
        }
        assert!(sent < 2 << 30, "the server kept reading 2 GiB of calls");
    }
}

/// The flooder's connection was closed by the server: writes fail (RST) within 5 s.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        match s.write(&[0u8; 4]) {
            Err(e)
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut =>
            {
                return true;
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    false
}

/// Pins every slot (`max_connections = 8`) with clients that flood NULL calls and never read;
/// a new client is refused while they hold the slots, then served once the send timeout
/// (5 s here) has closed them, not later than 10 s after the last one was pinned.
#[test]
fn nfs_non_reading_clients_lose_their_slots_after_the_send_timeout() {
    let server = Server::start(Opts {
        nfs_extra: "max_connections = 8\nmax_unauthenticated = 8\nsend_timeout_secs = 5\n\
                    unauthenticated_timeout_secs = 600\n"
            .into(),
        ..Opts::standard()
    });
    let batch: Vec<u8> = (0..2000u32)
        .flat_map(|x| rpc_call(x, NFS, 3, 0, &[]))
        .collect();
    let port = server.nfs_port;
    let floods: Vec<_> = (0..8)
        .map(|_| {
            let batch = batch.clone();
            std::thread::spawn(move || {
                let s =
                    connect_from(SocketAddr::from(([127, 0, 0, 1], 0)), port, Some(4096)).unwrap();
                flood_until_pinned(s, batch)
            })
        })
        .collect();
    let mut pinned: Vec<(TcpStream, Instant)> =
        floods.into_iter().map(|t| t.join().unwrap()).collect();
    let first = pinned.iter().map(|p| p.1).min().unwrap();
    let last = pinned.iter().map(|p| p.1).max().unwrap();
    // Every slot is held: a new client is closed at once.
    assert!(
        first.elapsed() < Duration::from_secs(4),
        "pinning took too long to test the refusal"
    );
    assert!(
        !nfs_null_served(&mut nfs_connect(&server)),
        "a ninth client was served while 8 slots were pinned\n{}",
        server.log()
    );
    // Within the send timeout (plus slack) the pinned connections are closed and a new
    // client is served, MOUNT included (from a reserved port: the export is `secure`).
    let served_at = loop {
        if nfs_null_served(&mut nfs_connect(&server)) {
            break Instant::now();
        }
        assert!(
            last.elapsed() < Duration::from_secs(10),
            "no client served 10 s after the slots were pinned\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "new client served {:?} after the last slot was pinned",
        served_at.duration_since(last)
    );
    let mut c = connect_reserved(server.nfs_port);
    assert_eq!(nfs_mnt(&mut c), 0);
    for (s, _) in &mut pinned {
        assert!(closed_by_server(s), "a flooding connection was left open");
    }
}

/// Unauthenticated cap (3 of 8): an admitted client (MNT done) does not count; three idle
/// sockets fill the cap and a fourth is refused while the admitted client is still served;
/// after `unauthenticated_timeout_secs` the idle ones are closed and new clients get in.
#[test]
fn nfs_unauthenticated_connections_have_their_own_cap_and_timeout() {
    let server = Server::start(Opts {
        nfs_extra:
            "max_connections = 8\nmax_unauthenticated = 3\nunauthenticated_timeout_secs = 3\n"
                .into(),
        ..Opts::standard()
    });
    let mut admitted = connect_reserved(server.nfs_port);
    assert_eq!(nfs_mnt(&mut admitted), 0);
    let started = Instant::now();
    let mut idle: Vec<TcpStream> = (0..3).map(|_| nfs_connect(&server)).collect();
    // Each of the three is served (NULL does not authenticate): they hold unauthenticated
    // slots, the admitted client does not.
    for s in &mut idle {
        assert!(nfs_null_served(s), "{}", server.log());
    }
    assert!(
        !nfs_null_served(&mut nfs_connect(&server)),
        "a fourth unauthenticated connection was admitted\n{}",
        server.log()
    );
    assert!(nfs_null_served(&mut admitted));
    // The idle ones are closed by the timeout (3 s from their connect).
    std::thread::sleep(Duration::from_secs(4).saturating_sub(started.elapsed()));
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut b = [0u8; 64];
        // Drained replies first, then EOF.
        loop {
            match s.read(&mut b) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) => {
                    assert!(
                        e.kind() != std::io::ErrorKind::WouldBlock,
                        "idle unauthenticated connection still open"
                    );
                    break;
                }
            }
        }
    }
    assert!(nfs_null_served(&mut nfs_connect(&server)));
    // The admitted connection outlives the unauthenticated timeout.
    assert!(nfs_null_served(&mut admitted));
}

/// Per-client-address cap (2): a third connection from 127.0.0.2 is refused while
/// 127.0.0.3 is served; closing one frees a slot for 127.0.0.2.
#[test]
fn nfs_connections_per_client_address_are_capped() {
    let server = Server::start(Opts {
        nfs_extra: "max_connections = 8\nmax_connections_per_client = 2\n".into(),
        ..Opts::standard()
    });
    let from = |last: u8| {
        connect_from(
            SocketAddr::from(([127, 0, 0, last], 0)),
            server.nfs_port,
            None,
        )
        .unwrap()
    };
    let mut a1 = from(2);
    let mut a2 = from(2);
    assert!(nfs_null_served(&mut a1) && nfs_null_served(&mut a2));
    assert!(
        !nfs_null_served(&mut from(2)),
        "third connection from 127.0.0.2 admitted\n{}",
        server.log()
    );
    assert!(nfs_null_served(&mut from(3)));
    drop(a1);
    std::thread::sleep(Duration::from_millis(300));
    assert!(nfs_null_served(&mut from(2)));
    assert!(nfs_null_served(&mut a2));
}

// ---------------------------------------------------------------------------------------
// SMB: raw frames.

fn smb_header(command: u16, message_id: u64) -> Vec<u8> {
    let mut h = vec![0xFE, b'S', b'M', b'B', 64, 0, 0, 0, 0, 0, 0, 0];
    h.extend_from_slice(&command.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // credits requested
    h.extend_from_slice(&0u32.to_le_bytes()); // flags
    h.extend_from_slice(&0u32.to_le_bytes()); // next command
    h.extend_from_slice(&message_id.to_le_bytes());
    h.extend_from_slice(&[0; 4]);
    h.extend_from_slice(&0u32.to_le_bytes()); // tree id
    h.extend_from_slice(&0u64.to_le_bytes()); // session id
    h.extend_from_slice(&[0; 16]);
    h
}

fn smb_frame(msg: &[u8]) -> Vec<u8> {
    let mut f = (msg.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(msg);
    f
}

fn smb_negotiate() -> Vec<u8> {
    let mut m = smb_header(0, 0);
    m.extend_from_slice(&36u16.to_le_bytes());
    m.extend_from_slice(&2u16.to_le_bytes()); // dialect count
    m.extend_from_slice(&1u16.to_le_bytes()); // signing enabled
    m.extend_from_slice(&[0; 2]);
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend_from_slice(&[7; 16]);
    m.extend_from_slice(&[0; 8]);
    for d in [0x0202u16, 0x0210] {
        m.extend_from_slice(&d.to_le_bytes());
    }
    smb_frame(&m)
}

fn smb_echo(message_id: u64) -> Vec<u8> {
    let mut m = smb_header(13, message_id);
    m.extend_from_slice(&4u16.to_le_bytes());
    m.extend_from_slice(&[0; 2]);
    smb_frame(&m)
}

/// NEGOTIATE answered on a new connection from `src` (false: closed or no answer in 3 s).
fn smb_negotiated(port: u16, src: [u8; 4]) -> Option<TcpStream> {
    let mut s = connect_from(SocketAddr::from((src, 0)), port, None).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(&smb_negotiate()).ok()?;
    let mut h = [0u8; 4];
    s.read_exact(&mut h).ok()?;
    let mut b = vec![0u8; u32::from_be_bytes(h) as usize];
    s.read_exact(&mut b).ok()?;
    (b.get(..4) == Some(&[0xFE, b'S', b'M', b'B'][..])).then_some(s)
}

fn smb_ls_works(s: &Server) -> bool {
    let out = run(
        Command::new("smbclient")
            .args([
                "//127.0.0.1/data",
                "-U",
                "alice%Pa55word!",
                "-c",
                "ls",
                "-p",
            ])
            .arg(s.smb_port.to_string()),
        Duration::from_secs(60),
    );
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("marker.txt")
}

/// Pins all 8 slots with clients that NEGOTIATE and then flood ECHOs without reading;
/// a new client is refused while they hold the slots, and served (smbclient lists the share)
/// once the 5 s send timeout has closed them.
#[test]
fn smb_non_reading_clients_lose_their_slots_after_the_send_timeout() {
    let server = Server::start(Opts {
        smb_extra: "max_connections = 8\nmax_unauthenticated = 8\nsend_timeout_secs = 5\n\
                    unauthenticated_timeout_secs = 600\n"
            .into(),
        ..Opts::standard()
    });
    server.add_user("alice", "Pa55word!");
    std::fs::write(server.backing.join("marker.txt"), b"m").unwrap();
    let port = server.smb_port;
    let floods: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s =
                    connect_from(SocketAddr::from(([127, 0, 0, 1], 0)), port, Some(4096)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s.write_all(&smb_negotiate()).unwrap();
                let mut h = [0u8; 4];
                s.read_exact(&mut h).unwrap();
                let mut b = vec![0u8; u32::from_be_bytes(h) as usize];
                s.read_exact(&mut b).unwrap();
                // One credit asked and granted per ECHO: ids 1, 2, 3, ... stay in the window.
                let batch: Vec<u8> = (1..=200_000u64).flat_map(smb_echo).collect();
                flood_until_pinned(s, batch)
            })
        })
        .collect();
    let mut pinned: Vec<(TcpStream, Instant)> =
        floods.into_iter().map(|t| t.join().unwrap()).collect();
    let first = pinned.iter().map(|p| p.1).min().unwrap();
    let last = pinned.iter().map(|p| p.1).max().unwrap();
    assert!(
        first.elapsed() < Duration::from_secs(4),
        "pinning took too long to test the refusal"
    );
    assert!(
        smb_negotiated(port, [127, 0, 0, 1]).is_none(),
        "a ninth client was served while 8 slots were pinned\n{}",
        server.log()
    );
    let served_at = loop {
        if smb_negotiated(port, [127, 0, 0, 1]).is_some() {
            break Instant::now();
        }
        assert!(
            last.elapsed() < Duration::from_secs(10),
            "no client served 10 s after the slots were pinned\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "new client served {:?} after the last slot was pinned",
        served_at.duration_since(last)
    );
    assert!(smb_ls_works(&server), "{}", server.log());
    for (s, _) in &mut pinned {
        assert!(closed_by_server(s), "a flooding connection was left open");
    }
}

/// Unauthenticated cap (3 of 8): a connection with an established session (smbclient,
/// pausing between two listings) does not count; three NEGOTIATE-only sockets fill the cap,
/// a fourth is refused, and the session's second listing still works.
#[test]
fn smb_unauthenticated_connections_have_their_own_cap() {
    let server = Server::start(Opts {
        smb_extra:
            "max_connections = 8\nmax_unauthenticated = 3\nunauthenticated_timeout_secs = 8\n"
                .into(),
        ..Opts::standard()
    });
    server.add_user("alice", "Pa55word!");
    std::fs::write(server.backing.join("marker.txt"), b"m").unwrap();
    let session = Command::new("smbclient")
        .args([
            "//127.0.0.1/data",
            "-U",
            "alice%Pa55word!",
            "-c",
            "ls; !sleep 4; ls",
            "-p",
        ])
        .arg(server.smb_port.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let port = server.smb_port;
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| {
            smb_negotiated(port, [127, 0, 0, 5])
                .unwrap_or_else(|| panic!("unauthenticated slot refused\n{}", server.log()))
        })
        .collect();
    assert!(
        smb_negotiated(port, [127, 0, 0, 6]).is_none(),
        "a fourth unauthenticated connection was admitted\n{}",
        server.log()
    );
    let out = session.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.matches("marker.txt").count() == 2,
        "{text}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    assert!(smb_ls_works(&server), "{}", server.log());
}

/// Per-client-address cap (2): a third connection from 127.0.0.2 is refused while
/// 127.0.0.3 is served; closing one frees a slot for 127.0.0.2.
#[test]
fn smb_connections_per_client_address_are_capped() {
    let server = Server::start(Opts {
        smb_extra: "max_connections = 8\nmax_connections_per_client = 2\n".into(),
        ..Opts::standard()
    });
    let port = server.smb_port;
    let a1 = smb_negotiated(port, [127, 0, 0, 2]).unwrap();
    let _a2 = smb_negotiated(port, [127, 0, 0, 2]).unwrap();
    assert!(
        smb_negotiated(port, [127, 0, 0, 2]).is_none(),
        "third connection from 127.0.0.2 admitted\n{}",
        server.log()
    );
    assert!(smb_negotiated(port, [127, 0, 0, 3]).is_some());
    drop(a1);
    std::thread::sleep(Duration::from_millis(300));
    assert!(smb_negotiated(port, [127, 0, 0, 2]).is_some());
}
