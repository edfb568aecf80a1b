//! Bind and call round trips on a pipe.

use super::*;

fn ctx() -> RpcContext {
    RpcContext {
        server_name: "SHOAL".into(),
        domain: "WORKGROUP".into(),
        shares: vec![
            ShareEntry {
                name: "data".into(),
                comment: "c".into(),
                share_type: 0,
                path: "C:\\data".into(),
            },
            ShareEntry {
                name: "IPC$".into(),
                comment: "IPC".into(),
                share_type: 0x8000_0003,
                path: String::new(),
            },
        ],
    }
}

fn pdu(ptype: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let mut p = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
    p.extend_from_slice(&((16 + body.len()) as u16).to_le_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&call_id.to_le_bytes());
    p.extend_from_slice(body);
    p
}

fn bind_body() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&4280u16.to_le_bytes());
    b.extend_from_slice(&4280u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&[1, 0]);
    b.extend_from_slice(&[
        0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1,
        0x88,
    ]);
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&[
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60,
    ]);
    b.extend_from_slice(&2u32.to_le_bytes());
    b
}

#[test]
fn bind_then_enum_all_level_1() {
    let mut p = Pipe::new(PipeKind::Srvsvc, ctx());
    p.write(&pdu(11, 1, &bind_body())).unwrap();
    let (ack, more) = p.read(4096);
    assert!(!more);
    assert_eq!(ack[2], 12);
    // result of the one context: acceptance
    let n = ack.len();
    assert_eq!(&ack[n - 24..n - 22], &[0, 0]);

    let mut stub = Vec::new();
    stub.extend_from_slice(&0u32.to_le_bytes()); // server_unc null
    stub.extend_from_slice(&1u32.to_le_bytes()); // level
    stub.extend_from_slice(&1u32.to_le_bytes()); // switch
    stub.extend_from_slice(&0x20000u32.to_le_bytes()); // ctr ptr
    stub.extend_from_slice(&0u32.to_le_bytes()); // count
    stub.extend_from_slice(&0u32.to_le_bytes()); // array null
    stub.extend_from_slice(&u32::MAX.to_le_bytes());
    stub.extend_from_slice(&0u32.to_le_bytes()); // resume null
    let mut req = Vec::new();
    req.extend_from_slice(&(stub.len() as u32).to_le_bytes());
    req.extend_from_slice(&0u16.to_le_bytes());
    req.extend_from_slice(&15u16.to_le_bytes());
    req.extend_from_slice(&stub);
    p.write(&pdu(0, 2, &req)).unwrap();
    let (resp, _) = p.read(65536);
    assert_eq!(resp[2], 2);
    let text: Vec<u8> = "data".encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert!(resp.windows(text.len()).any(|w| w == text));
    assert_eq!(&resp[resp.len() - 4..], &[0, 0, 0, 0]);

    // Unknown opnum: fault.
    let mut req2 = req.clone();
    req2[6] = 99;
    p.write(&pdu(0, 3, &req2)).unwrap();
    let (f, _) = p.read(65536);
    assert_eq!(f[2], 3);
}

#[test]
fn garbage_is_refused_and_inputs_are_bounded() {
    let mut p = Pipe::new(PipeKind::Wkssvc, ctx());
    assert!(p.write(&[9; 32]).is_err());
    let mut p = Pipe::new(PipeKind::Wkssvc, ctx());
    assert!(p.write(&vec![5u8; MAX_PIPE_INPUT + 1]).is_err());
}

/// NetShareEnumAll level 1 request PDU.
fn enum_all(call_id: u32) -> Vec<u8> {
    let mut stub = Vec::new();
    for v in [0u32, 1, 1, 0x20000, 0, 0, u32::MAX, 0] {
        stub.extend_from_slice(&v.to_le_bytes());
    }
    let mut req = Vec::new();
    req.extend_from_slice(&(stub.len() as u32).to_le_bytes());
    req.extend_from_slice(&0u16.to_le_bytes());
    req.extend_from_slice(&15u16.to_le_bytes());
    req.extend_from_slice(&stub);
    pdu(0, call_id, &req)
}

/// Pipes of one connection share a memory cap: a client writing requests to several pipes
/// and never reading the replies is refused (INSUFFICIENT_RESOURCES) at
/// MAX_CONNECTION_PIPE_BYTES in all, although no single pipe is at its own cap; reading frees
/// room; closing the pipes returns everything.
#[test]
fn pipes_of_a_connection_share_a_memory_cap() {
    let budget = Arc::new(PipeBudget::default());
    PIPE_BUDGET.sync_scope(budget.clone(), || {
        let mut pipes: Vec<Pipe> = (0..4)
            .map(|_| {
                let mut p = Pipe::new(PipeKind::Srvsvc, ctx());
                p.write(&pdu(11, 1, &bind_body())).unwrap();
                p
            })
            .collect();
        let batch: Vec<u8> = (0..200).flat_map(enum_all).collect();
        let mut refused = None;
        'outer: for round in 0..10_000 {
            for (i, p) in pipes.iter_mut().enumerate() {
                if let Err(e) = p.write(&batch) {
                    refused = Some((round, i, e));
                    break 'outer;
                }
            }
        }
        let (_, _, e) = refused.expect("never refused");
        assert!(matches!(
            e,
            SmbError::Client(NtStatus::INSUFFICIENT_RESOURCES)
        ));
        let used = budget.used();
        assert!(used <= MAX_CONNECTION_PIPE_BYTES + 256 * 1024, "{used}");
        assert!(used + batch.len() > MAX_CONNECTION_PIPE_BYTES, "{used}");
        assert!(pipes.iter().all(|p| p.output.len() < MAX_PIPE_OUTPUT));
        // Reading one pipe's replies frees room for writes again.
        while pipes[0].read(65536).1 {}
        assert!(budget.used() < used);
        pipes[1].write(&batch).unwrap();
        drop(pipes);
        assert_eq!(budget.used(), 0);
    });
}
