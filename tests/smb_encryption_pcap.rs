//! The committed capture `pcaps/smb/smbclient-put-encrypted-share.pcapng` (R2, issue 5):
//! smbclient 4.17 putting a 26,000-byte text file to a share with `encrypt = true`, with no
//! encryption option on the client (the server asks for it through SHAREFLAG_ENCRYPT_DATA).
//!
//! The test reads the pcapng with a small parser of its own (section header, interface
//! description and enhanced packet blocks; Ethernet, IPv4, TCP), so CI needs no tshark. It
//! checks that NEGOTIATE, SESSION_SETUP and TREE_CONNECT travel in clear, that every later
//! message in either direction is an SMB2 TRANSFORM frame (0xFD 'S' 'M' 'B'), and that no
//! line of the file appears in clear anywhere in the capture.

use std::collections::BTreeMap;
use std::path::PathBuf;

const CAPTURE: &str = "pcaps/smb/smbclient-put-encrypted-share.pcapng";
/// The server's port in the capture.
const SERVER_PORT: u16 = 34113;

/// The file that was put: 1000 numbered lines.
fn file_lines() -> Vec<String> {
    (0..1000)
        .map(|i| format!("SHOAL-PCAP-PLAINTEXT-{i:04}\n"))
        .collect()
}

fn u16_at(b: &[u8], at: usize, le: bool) -> u16 {
    let a = [b[at], b[at + 1]];
    if le {
        u16::from_le_bytes(a)
    } else {
        u16::from_be_bytes(a)
    }
}

fn u32_at(b: &[u8], at: usize, le: bool) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if le {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    }
}

/// Packet bytes of every Enhanced Packet Block, with the link type of its interface.
fn pcapng_packets(data: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut link_types = Vec::new();
    let mut le = true;
    let mut at = 0;
    while at + 12 <= data.len() {
        let block_type = u32_at(data, at, true);
        if block_type == 0x0A0D_0D0A {
            // Section header: the byte-order magic decides the endianness of the section.
            le = u32_at(data, at + 8, true) == 0x1A2B_3C4D;
            link_types.clear();
        }
        let block_type = u32_at(data, at, le);
        let len = u32_at(data, at + 4, le) as usize;
        assert!(
            len >= 12 && at + len <= data.len(),
            "bad block length {len} at {at}"
        );
        let body = &data[at + 8..at + len - 4];
        match block_type {
            1 => link_types.push(u16_at(body, 0, le)),
            6 => {
                let iface = u32_at(body, 0, le) as usize;
                let captured = u32_at(body, 12, le) as usize;
                out.push((link_types[iface], body[20..20 + captured].to_vec()));
            }
            _ => {}
        }
        at += len;
    }
    out
}

/// TCP payloads per direction (true: client to server), ordered by sequence number.
fn tcp_streams(packets: &[(u16, Vec<u8>)]) -> (Vec<u8>, Vec<u8>) {
    let mut dirs: [BTreeMap<u32, Vec<u8>>; 2] = [BTreeMap::new(), BTreeMap::new()];
    for (link, p) in packets {
        let ip = match link {
            1 => &p[14..], // Ethernet (Linux loopback as tshark records it)
            0 => &p[4..],  // BSD loopback
            101 => &p[..], // raw IP
            other => panic!("unexpected link type {other}"),
        };
        assert_eq!(ip[0] >> 4, 4, "IPv4 expected");
        assert_eq!(ip[9], 6, "TCP expected");
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        let total = usize::from(u16_at(ip, 2, false));
        let tcp = &ip[ihl..total];
        let (sport, dport) = (u16_at(tcp, 0, false), u16_at(tcp, 2, false));
        let seq = u32_at(tcp, 4, false);
        let payload = &tcp[usize::from(tcp[12] >> 4) * 4..];
        if payload.is_empty() {
            continue;
        }
        let to_server = dport == SERVER_PORT;
        assert!(
            to_server || sport == SERVER_PORT,
            "a packet of another connection"
        );
        dirs[usize::from(!to_server)].insert(seq, payload.to_vec());
    }
    let join = |m: &BTreeMap<u32, Vec<u8>>| m.values().flatten().copied().collect::<Vec<u8>>();
    (join(&dirs[0]), join(&dirs[1]))
}

/// What each direct-TCP message is: `Ok(command)` for a clear SMB2 message, `Err(())` for a
/// TRANSFORM frame.
fn messages(stream: &[u8]) -> Vec<Result<u16, ()>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        assert_eq!(stream[at], 0, "NetBIOS session message expected");
        let len = (usize::from(stream[at + 1]) << 16)
            | (usize::from(stream[at + 2]) << 8)
            | usize::from(stream[at + 3]);
        let msg = &stream[at + 4..at + 4 + len];
        match &msg[..4] {
            [0xFE, b'S', b'M', b'B'] => out.push(Ok(u16_at(msg, 12, true))),
            [0xFD, b'S', b'M', b'B'] => out.push(Err(())),
            other => panic!("neither SMB2 nor TRANSFORM: {other:02x?}"),
        }
        at += 4 + len;
    }
    out
}

const NEGOTIATE: u16 = 0;
const SESSION_SETUP: u16 = 1;
const TREE_CONNECT: u16 = 3;

fn check_direction(name: &str, msgs: &[Result<u16, ()>]) {
    let clear: Vec<u16> = msgs
        .iter()
        .take_while(|m| m.is_ok())
        .map(|m| *m.as_ref().unwrap())
        .collect();
    assert_eq!(
        clear,
        [NEGOTIATE, SESSION_SETUP, SESSION_SETUP, TREE_CONNECT],
        "{name}: clear messages"
    );
    let rest = &msgs[clear.len()..];
    assert!(
        rest.len() >= 5,
        "{name}: only {} encrypted messages",
        rest.len()
    );
    assert!(
        rest.iter().all(Result::is_err),
        "{name}: a clear message after TREE_CONNECT: {msgs:?}"
    );
}

#[test]
fn capture_shows_setup_in_clear_then_only_transform_frames() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(CAPTURE);
    let data = std::fs::read(&path).unwrap();
    assert!(data.len() < 1 << 20, "captures stay under 1 MiB");
    let packets = pcapng_packets(&data);
    let (to_server, to_client) = tcp_streams(&packets);
    check_direction("client to server", &messages(&to_server));
    check_direction("server to client", &messages(&to_client));
    // The client really sent the file: the encrypted bytes to the server exceed its size.
    let lines = file_lines();
    let file_len: usize = lines.iter().map(String::len).sum();
    assert!(
        to_server.len() > file_len,
        "{} bytes to the server",
        to_server.len()
    );
    // And no part of it is in clear, anywhere in the capture.
    for line in &lines {
        assert!(!contains(&data, line.as_bytes()), "{line:?} in clear");
    }
    assert!(!contains(&data, b"SHOAL-PCAP"));
    // The clear part does name the share (TREE_CONNECT is in clear, R2).
    let share: Vec<u8> = "\\\\127.0.0.1\\secret"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert!(contains(&to_server, &share));
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
