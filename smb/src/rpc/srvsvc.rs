//! srvsvc (MS-SRVS): NetShareEnumAll (opnum 15, levels 0 and 1) and NetShareGetInfo
//! (opnum 16, levels 1, 2, 501, 1005).

use super::ndr::{NdrReader, NdrWriter};
use super::{RpcContext, ShareEntry};

/// ERROR_INVALID_LEVEL.
const WERR_INVALID_LEVEL: u32 = 124;
/// NERR_NetNameNotFound.
const NERR_NET_NAME_NOT_FOUND: u32 = 2310;

pub(crate) fn call(opnum: u16, stub: &[u8], ctx: &RpcContext) -> Option<Vec<u8>> {
    match opnum {
        15 => Some(enum_all(stub, ctx)),
        16 => Some(get_info(stub, ctx)),
        _ => None,
    }
}

fn enum_all(stub: &[u8], ctx: &RpcContext) -> Vec<u8> {
    let mut r = NdrReader::new(stub);
    let _server = r.unique_string();
    let level = r.u32().unwrap_or(1);
    let _switch = r.u32();
    let ctr = r.u32().unwrap_or(0);
    if ctr != 0 {
        let _count = r.u32();
        let _array = r.u32();
    }
    let _pref_max = r.u32();
    let resume = r.u32().unwrap_or(0);
    let shares = &ctx.shares;
    let n = u32::try_from(shares.len()).unwrap_or(0);
    let mut w = NdrWriter::new();
    w.u32(level);
    w.u32(level);
    let status = match level {
        0 | 1 => {
            w.ptr();
            w.u32(n);
            w.ptr();
            w.u32(n);
            for s in shares {
                w.ptr();
                if level == 1 {
                    w.u32(s.share_type);
                    w.ptr();
                }
            }
            for s in shares {
                w.string(&s.name);
                if level == 1 {
                    w.string(&s.comment);
                }
            }
            0
        }
        _ => {
            w.u32(0);
            WERR_INVALID_LEVEL
        }
    };
    w.u32(if status == 0 { n } else { 0 });
    if resume != 0 {
        w.ptr();
        w.u32(0);
    } else {
        w.u32(0);
    }
    w.u32(status);
    w.buf
}

fn info_struct(w: &mut NdrWriter, level: u32, s: &ShareEntry) -> bool {
    match level {
        1 => {
            w.ptr();
            w.u32(s.share_type);
            w.ptr();
            w.string(&s.name);
            w.string(&s.comment);
        }
        2 => {
            w.ptr();
            w.u32(s.share_type);
            w.ptr();
            w.u32(0); // permissions
            w.u32(u32::MAX); // max uses
            w.u32(1); // current uses
            w.ptr();
            w.u32(0); // password: null
            w.string(&s.name);
            w.string(&s.comment);
            w.string(&s.path);
        }
        501 => {
            w.ptr();
            w.u32(s.share_type);
            w.ptr();
            w.u32(0); // flags
            w.string(&s.name);
            w.string(&s.comment);
        }
        1005 => w.u32(0),
        _ => return false,
    }
    true
}

fn get_info(stub: &[u8], ctx: &RpcContext) -> Vec<u8> {
    let mut r = NdrReader::new(stub);
    let _server = r.unique_string();
    let name = r.string().unwrap_or_default();
    let level = r.u32().unwrap_or(1);
    let mut w = NdrWriter::new();
    w.u32(level);
    let Some(share) = ctx
        .shares
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(&name))
    else {
        w.u32(0);
        w.u32(NERR_NET_NAME_NOT_FOUND);
        return w.buf;
    };
    if !matches!(level, 1 | 2 | 501 | 1005) {
        w.u32(0);
        w.u32(WERR_INVALID_LEVEL);
        return w.buf;
    }
    w.ptr();
    info_struct(&mut w, level, share);
    w.u32(0);
    w.buf
}
