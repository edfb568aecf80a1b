//! wkssvc (MS-WKST): NetWkstaGetInfo (opnum 0) level 100.

use super::ndr::{NdrReader, NdrWriter};
use super::RpcContext;

/// PLATFORM_ID_NT.
const PLATFORM_ID_NT: u32 = 500;

pub(crate) fn call(opnum: u16, stub: &[u8], ctx: &RpcContext) -> Option<Vec<u8>> {
    if opnum != 0 {
        return None;
    }
    let mut r = NdrReader::new(stub);
    let _server = r.unique_string();
    let level = r.u32().unwrap_or(100);
    let mut w = NdrWriter::new();
    w.u32(level);
    if level != 100 {
        w.u32(0);
        w.u32(124);
        return Some(w.buf);
    }
    w.ptr();
    w.u32(PLATFORM_ID_NT);
    w.ptr();
    w.ptr();
    w.u32(6);
    w.u32(1);
    w.string(&ctx.server_name);
    w.string(&ctx.domain);
    w.u32(0);
    Some(w.buf)
}
