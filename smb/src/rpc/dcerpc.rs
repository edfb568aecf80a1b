//! Connection-oriented DCE/RPC PDUs (C706 chapter 12): bind / alter_context with their acks,
//! request (with fragment reassembly), response (fragmented to the client's max_recv_frag),
//! fault. No authentication (srvsvc and wkssvc over SMB rely on the SMB session).

use super::{srvsvc, wkssvc, PipeKind, RpcContext};

const PTYPE_REQUEST: u8 = 0;
const PTYPE_RESPONSE: u8 = 2;
const PTYPE_FAULT: u8 = 3;
const PTYPE_BIND: u8 = 11;
const PTYPE_BIND_ACK: u8 = 12;
const PTYPE_ALTER_CONTEXT: u8 = 14;
const PTYPE_ALTER_CONTEXT_RESP: u8 = 15;

const PFC_FIRST_FRAG: u8 = 0x01;
const PFC_LAST_FRAG: u8 = 0x02;
const PFC_OBJECT_UUID: u8 = 0x80;

/// nca_s_op_rng_error: unknown operation number.
const NCA_OP_RNG_ERROR: u32 = 0x1C01_0002;
/// nca_unk_if: unknown interface / context.
const NCA_UNK_IF: u32 = 0x1C01_0003;

/// Our largest fragment, both ways.
const MAX_FRAG: u16 = 4280;
/// Most stub bytes reassembled from request fragments.
const MAX_STUB: usize = 128 * 1024;

const SRVSVC: ([u8; 16], u32) = (
    [
        0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1,
        0x88,
    ],
    3,
);
const WKSSVC: ([u8; 16], u32) = (
    [
        0x98, 0xd0, 0xff, 0x6b, 0x12, 0xa1, 0x10, 0x36, 0x98, 0x33, 0x46, 0xc3, 0xf8, 0x7e, 0x34,
        0x5a,
    ],
    1,
);
const NDR32: ([u8; 16], u32) = (
    [
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60,
    ],
    2,
);
const BIND_TIME_FEATURES: [u8; 8] = [0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45];

/// State of the association on one pipe.
#[derive(Default)]
pub(crate) struct Association {
    contexts: Vec<u16>,
    max_xmit: u16,
    stub: Vec<u8>,
}

impl Association {
    /// Bytes of a fragmented request buffered so far.
    pub(crate) fn buffered(&self) -> usize {
        self.stub.len()
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        <[u8; 2]>::try_from(b.get(at..at + 2)?).ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        <[u8; 4]>::try_from(b.get(at..at + 4)?).ok()?,
    ))
}

/// Length of the first PDU in `buf` when it is complete.
pub(crate) fn complete_pdu_len(buf: &[u8]) -> Option<usize> {
    let len = usize::from(u16_at(buf, 8)?);
    (len >= 16 && buf.len() >= len).then_some(len)
}

/// True when the buffered bytes cannot start a PDU.
pub(crate) fn is_garbage(buf: &[u8]) -> bool {
    buf.len() >= 10 && (buf.first() != Some(&5) || u16_at(buf, 8).is_some_and(|l| l < 16))
}

fn header(ptype: u8, flags: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(16 + body.len());
    p.extend_from_slice(&[5, 0, ptype, flags, 0x10, 0, 0, 0]);
    p.extend_from_slice(&u16::try_from(16 + body.len()).unwrap_or(0).to_le_bytes());
    p.extend_from_slice(&0u16.to_le_bytes());
    p.extend_from_slice(&call_id.to_le_bytes());
    p.extend_from_slice(body);
    p
}

fn fault(call_id: u32, ctx_id: u16, status: u32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&ctx_id.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&status.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    header(PTYPE_FAULT, PFC_FIRST_FRAG | PFC_LAST_FRAG, call_id, &b)
}

/// Handles one complete PDU; returns the reply PDUs.
pub(crate) fn handle_pdu(
    a: &mut Association,
    kind: PipeKind,
    ctx: &RpcContext,
    pdu: &[u8],
) -> Result<Vec<Vec<u8>>, &'static str> {
    if pdu.first() != Some(&5) || pdu.get(1) != Some(&0) {
        return Err("not DCE/RPC v5.0");
    }
    if !matches!(pdu.get(4), Some(d) if d & 0x10 != 0) {
        return Err("big-endian data representation");
    }
    let ptype = *pdu.get(2).ok_or("short")?;
    let flags = *pdu.get(3).ok_or("short")?;
    let auth_len = usize::from(u16_at(pdu, 10).ok_or("short")?);
    let call_id = u32_at(pdu, 12).ok_or("short")?;
    if auth_len != 0 {
        return Err("authenticated RPC not supported");
    }
    match ptype {
        PTYPE_BIND | PTYPE_ALTER_CONTEXT => bind(a, kind, ptype, call_id, pdu).map(|p| vec![p]),
        PTYPE_REQUEST => {
            let ctx_id = u16_at(pdu, 20).ok_or("short")?;
            let opnum = u16_at(pdu, 22).ok_or("short")?;
            let stub_at = if flags & PFC_OBJECT_UUID != 0 { 40 } else { 24 };
            let stub = pdu.get(stub_at..).ok_or("short request")?;
            if flags & PFC_FIRST_FRAG != 0 {
                a.stub.clear();
            }
            if a.stub.len() + stub.len() > MAX_STUB {
                return Err("request too large");
            }
            a.stub.extend_from_slice(stub);
            if flags & PFC_LAST_FRAG == 0 {
                return Ok(Vec::new());
            }
            let stub = std::mem::take(&mut a.stub);
            if !a.contexts.contains(&ctx_id) {
                return Ok(vec![fault(call_id, ctx_id, NCA_UNK_IF)]);
            }
            let out = match kind {
                PipeKind::Srvsvc => srvsvc::call(opnum, &stub, ctx),
                PipeKind::Wkssvc => wkssvc::call(opnum, &stub, ctx),
            };
            match out {
                Some(out) => Ok(response(a, call_id, ctx_id, &out)),
                None => Ok(vec![fault(call_id, ctx_id, NCA_OP_RNG_ERROR)]),
            }
        }
        _ => Err("unexpected PDU type"),
    }
}

fn response(a: &Association, call_id: u32, ctx_id: u16, stub: &[u8]) -> Vec<Vec<u8>> {
    let max_stub = usize::from(a.max_xmit.max(1024)) - 24;
    let chunks: Vec<&[u8]> = if stub.is_empty() {
        vec![stub]
    } else {
        stub.chunks(max_stub).collect()
    };
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut flags = 0;
            if i == 0 {
                flags |= PFC_FIRST_FRAG;
            }
            if i + 1 == n {
                flags |= PFC_LAST_FRAG;
            }
            let mut b = Vec::with_capacity(8 + c.len());
            b.extend_from_slice(&u32::try_from(stub.len()).unwrap_or(0).to_le_bytes());
            b.extend_from_slice(&ctx_id.to_le_bytes());
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(c);
            header(PTYPE_RESPONSE, flags, call_id, &b)
        })
        .collect()
}

fn bind(
    a: &mut Association,
    kind: PipeKind,
    ptype: u8,
    call_id: u32,
    pdu: &[u8],
) -> Result<Vec<u8>, &'static str> {
    let max_xmit = u16_at(pdu, 16).ok_or("short bind")?;
    let max_recv = u16_at(pdu, 18).ok_or("short bind")?;
    let assoc = u32_at(pdu, 20).ok_or("short bind")?;
    let n_ctx = usize::from(*pdu.get(24).ok_or("short bind")?);
    let (iface, name) = match kind {
        PipeKind::Srvsvc => (SRVSVC, "\\PIPE\\srvsvc"),
        PipeKind::Wkssvc => (WKSSVC, "\\PIPE\\wkssvc"),
    };
    a.max_xmit = max_recv.clamp(1024, MAX_FRAG);
    let mut results = Vec::new();
    let mut at = 28usize;
    for _ in 0..n_ctx {
        let ctx_id = u16_at(pdu, at).ok_or("short context")?;
        let n_ts = usize::from(*pdu.get(at + 2).ok_or("short context")?);
        let abs = pdu.get(at + 4..at + 20).ok_or("short context")?;
        let abs_ver = u32_at(pdu, at + 20).ok_or("short context")?;
        at += 24;
        let mut result: (u16, u16, [u8; 20]) = (2, 2, [0; 20]); // provider rejection: transfer syntax
        if abs != iface.0 || abs_ver & 0xffff != iface.1 {
            result = (2, 1, [0; 20]); // abstract syntax not supported
        }
        for _ in 0..n_ts {
            let ts = pdu.get(at..at + 16).ok_or("short transfer syntax")?;
            let ts_ver = u32_at(pdu, at + 16).ok_or("short transfer syntax")?;
            at += 20;
            if result.1 == 1 {
                continue;
            }
            if ts == NDR32.0 && ts_ver == NDR32.1 && result.0 != 0 {
                let mut syn = [0u8; 20];
                syn[..16].copy_from_slice(&NDR32.0);
                syn[16..].copy_from_slice(&NDR32.1.to_le_bytes());
                result = (0, 0, syn);
                a.contexts.push(ctx_id);
            } else if ts.get(..8) == Some(&BIND_TIME_FEATURES[..]) && result.0 == 2 {
                result = (3, 0, [0; 20]); // negotiate_ack, no features
            }
        }
        results.push(result);
    }
    let mut b = Vec::new();
    b.extend_from_slice(&MAX_FRAG.min(max_xmit.max(1024)).to_le_bytes());
    b.extend_from_slice(&a.max_xmit.to_le_bytes());
    b.extend_from_slice(&(if assoc == 0 { 0x53f0u32 } else { assoc }).to_le_bytes());
    if ptype == PTYPE_BIND {
        let port = format!("{name}\0");
        b.extend_from_slice(&u16::try_from(port.len()).unwrap_or(0).to_le_bytes());
        b.extend_from_slice(port.as_bytes());
    } else {
        b.extend_from_slice(&0u16.to_le_bytes());
    }
    while (16 + b.len()) % 4 != 0 {
        b.push(0);
    }
    b.push(u8::try_from(results.len()).unwrap_or(0));
    b.extend_from_slice(&[0, 0, 0]);
    for (result, reason, syn) in results {
        b.extend_from_slice(&result.to_le_bytes());
        b.extend_from_slice(&reason.to_le_bytes());
        b.extend_from_slice(&syn);
    }
    let reply = if ptype == PTYPE_BIND {
        PTYPE_BIND_ACK
    } else {
        PTYPE_ALTER_CONTEXT_RESP
    };
    Ok(header(reply, PFC_FIRST_FRAG | PFC_LAST_FRAG, call_id, &b))
}
