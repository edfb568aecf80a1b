//! Bad input over a raw socket: truncated PDUs, wrong structure sizes, offsets outside the
//! message, oversized frames, message ids outside the window, and many unauthenticated idle
//! connections. After all of it the server is up and a normal client works.

mod common;

use common::{run, Opts, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

fn header(command: u16, message_id: u64) -> Vec<u8> {
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

fn negotiate(message_id: u64, dialects: &[u16]) -> Vec<u8> {
    let mut m = header(0, message_id);
    m.extend_from_slice(&36u16.to_le_bytes());
    m.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes()); // signing enabled
    m.extend_from_slice(&[0; 2]);
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend_from_slice(&[7; 16]);
    m.extend_from_slice(&[0; 8]);
    for d in dialects {
        m.extend_from_slice(&d.to_le_bytes());
    }
    m
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let mut f = (msg.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(msg);
    f
}

fn connect(s: &Server) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", s.smb_port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// Reads one reply frame; `None` when the server closed the connection.
fn reply(c: &mut TcpStream) -> Option<Vec<u8>> {
    let mut h = [0u8; 4];
    c.read_exact(&mut h).ok()?;
    let len = u32::from_be_bytes(h) as usize;
    let mut b = vec![0u8; len];
    c.read_exact(&mut b).ok()?;
    Some(b)
}

fn status(reply: &[u8]) -> u32 {
    u32::from_le_bytes(reply[8..12].try_into().unwrap())
}

fn negotiated(s: &Server) -> TcpStream {
    let mut c = connect(s);
    c.write_all(&frame(&negotiate(0, &[0x0202, 0x0210, 0x0300])))
        .unwrap();
    let r = reply(&mut c).expect("negotiate reply");
    assert_eq!(status(&r), 0);
    c
}

fn ls_works(s: &Server) {
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
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("marker.txt"),
        "{text}\n{}",
        s.log()
    );
}

/// Credits: a client asking for many gets them (up to the cap) and can keep a deep queue of
/// requests in flight; the replies all come back.
#[test]
fn credit_grants_allow_a_deep_queue() {
    let s = Server::start(Opts::standard());
    let mut c = connect(&s);
    let mut m = negotiate(0, &[0x0202, 0x0210]);
    m[14] = 200; // CreditRequest
    c.write_all(&frame(&m)).unwrap();
    let r = reply(&mut c).unwrap();
    let granted = u16::from_le_bytes([r[14], r[15]]);
    assert_eq!(granted, 200);
    // 200 ECHOs sent back to back with ids 1..=200, then read 200 replies.
    let mut burst = Vec::new();
    for id in 1..=200u64 {
        burst.extend(frame(&{
            let mut e = header(13, id);
            e.extend_from_slice(&[4, 0, 0, 0]);
            e
        }));
    }
    c.write_all(&burst).unwrap();
    for id in 1..=200u64 {
        let r = reply(&mut c).expect("echo reply");
        assert_eq!(status(&r), 0);
        assert_eq!(u64::from_le_bytes(r[24..32].try_into().unwrap()), id);
    }
    // Reusing an id already consumed closes the connection.
    let mut e = header(13, 5);
    e.extend_from_slice(&[4, 0, 0, 0]);
    c.write_all(&frame(&e)).unwrap();
    assert!(reply(&mut c).is_none());
}

#[test]
fn malformed_requests_get_errors_or_disconnects_and_the_server_stays_up() {
    let mut s = Server::start(Opts::standard());
    s.add_user("alice", "Pa55word!");
    std::fs::write(s.backing.join("marker.txt"), b"m").unwrap();

    // Truncated NEGOTIATE body: an error reply (INVALID_PARAMETER), connection stays usable.
    let mut c = connect(&s);
    let mut m = negotiate(0, &[0x0202]);
    m.truncate(64 + 10);
    c.write_all(&frame(&m)).unwrap();
    let r = reply(&mut c).expect("reply to truncated negotiate");
    assert_eq!(status(&r), 0xC000_000D);
    c.write_all(&frame(&negotiate(1, &[0x0202]))).unwrap();
    assert_eq!(status(&reply(&mut c).expect("second try")), 0);

    // Wrong structure size.
    let mut c = connect(&s);
    let mut m = negotiate(0, &[0x0202]);
    m[64] = 35;
    c.write_all(&frame(&m)).unwrap();
    assert_eq!(status(&reply(&mut c).unwrap()), 0xC000_000D);

    // Dialect count pointing past the end.
    let mut c = connect(&s);
    let mut m = negotiate(0, &[0x0202]);
    m[66] = 200;
    c.write_all(&frame(&m)).unwrap();
    assert_eq!(status(&reply(&mut c).unwrap()), 0xC000_000D);

    // SESSION_SETUP whose security buffer offset points outside the message.
    let mut c = negotiated(&s);
    let mut m = header(1, 1);
    m.extend_from_slice(&25u16.to_le_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&0xFFF0u16.to_le_bytes());
    m.extend_from_slice(&100u16.to_le_bytes());
    m.extend_from_slice(&[0; 8]);
    m.push(0x60);
    c.write_all(&frame(&m)).unwrap();
    let r = reply(&mut c).unwrap();
    assert_eq!(status(&r), 0xC000_000D);

    // Garbage SPNEGO and NTLMSSP tokens.
    for token in [
        vec![0x60, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
        b"NTLMSSP\0\x03\0\0\0".to_vec(),
        vec![0xA1, 0x03, 0x30, 0x01],
    ] {
        let mut c = negotiated(&s);
        let mut m = header(1, 1);
        m.extend_from_slice(&25u16.to_le_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&88u16.to_le_bytes());
        m.extend_from_slice(&(token.len() as u16).to_le_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&token);
        c.write_all(&frame(&m)).unwrap();
        let r = reply(&mut c).unwrap();
        assert!(status(&r) >= 0xC000_0000, "status {:#x}", status(&r));
    }

    // Message id outside the sequence window closes the connection.
    let mut c = negotiated(&s);
    c.write_all(&frame(&header(13, 1000))).unwrap();
    assert!(reply(&mut c).is_none(), "connection should be closed");

    // A request before NEGOTIATE closes the connection.
    let mut c = connect(&s);
    c.write_all(&frame(&header(3, 0))).unwrap();
    assert!(reply(&mut c).is_none());

    // Oversized and zero-length frames close the connection without reading them.
    let mut c = connect(&s);
    c.write_all(&[0, 0xFF, 0xFF, 0xFF]).unwrap();
    assert!(reply(&mut c).is_none());
    let mut c = connect(&s);
    c.write_all(&[0, 0, 0, 0]).unwrap();
    assert!(reply(&mut c).is_none());

    // A compound whose NextCommand points outside the frame.
    let mut c = connect(&s);
    let mut m = negotiate(0, &[0x0202]);
    m[20] = 0xF8;
    m[21] = 0x0F;
    c.write_all(&frame(&m)).unwrap();
    assert!(reply(&mut c).is_none());

    // Truncated frames: the length announces more than is sent, then the peer goes away.
    for cut in [1usize, 4, 30, 63, 70] {
        let mut c = connect(&s);
        let m = negotiate(0, &[0x0202, 0x0311]);
        let f = frame(&m);
        c.write_all(&f[..cut.min(f.len())]).unwrap();
        drop(c);
    }

    // Deterministic random junk after a valid NEGOTIATE.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for i in 0..200u64 {
        let mut c = negotiated(&s);
        let len = 64 + (i as usize * 7) % 200;
        let mut m = header((i % 19) as u16, 1);
        while m.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            m.push(x as u8);
        }
        // CANCEL and some junk get no reply: do not wait long for one.
        c.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        c.write_all(&frame(&m)).unwrap();
        let _ = reply(&mut c);
    }

    // 10,000 unauthenticated connections left idle (the figure), from another
    // address: beyond `smb.max_connections_per_client` they are closed at once.
    let idle: Vec<TcpStream> = (0..10_000)
        .map(|_| common::connect_from(([127, 0, 0, 2], 0).into(), s.smb_port, None).unwrap())
        .collect();
    let half_negotiated: Vec<TcpStream> = (0..50).map(|_| negotiated(&s)).collect();

    assert!(s.is_running(), "{}", s.log());
    ls_works(&s);
    drop(idle);
    drop(half_negotiated);
    assert!(s.is_running());
    ls_works(&s);
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

/// A connection that never authenticates is closed after the unauthenticated timeout
/// (`smb.unauthenticated_timeout_secs`, 30 s by default; 5 s here), even if it keeps
/// talking; the server keeps serving.
#[test]
fn unauthenticated_connections_are_closed_after_the_timeout() {
    let s = Server::start(Opts {
        smb_extra: "unauthenticated_timeout_secs = 5".into(),
        ..Opts::standard()
    });
    let started = std::time::Instant::now();
    let mut silent = connect(&s);
    silent
        .set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    let mut chatty = negotiated(&s);
    chatty
        .set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    // Keep the chatty one busy with ECHOs (which need no session) every few seconds.
    let mut id = 1u64;
    let mut chatty_closed = false;
    while started.elapsed() < Duration::from_secs(15) {
        let mut e = header(13, id);
        e.extend_from_slice(&[4, 0, 0, 0]);
        id += 1;
        if chatty.write_all(&frame(&e)).is_err() || reply(&mut chatty).is_none() {
            chatty_closed = true;
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(
        chatty_closed,
        "an unauthenticated connection stayed open for {:?}",
        started.elapsed()
    );
    assert!(
        reply(&mut silent).is_none(),
        "the silent connection was not closed"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4),
        "closed too early: {waited:?}"
    );
    let c = negotiated(&s);
    drop(c);
}
