//! TREE_CONNECT (MS-SMB2 2.2.9, 2.2.10) and TREE_DISCONNECT (2.2.11, 2.2.12).

use bytes::BufMut;

use crate::header::HEADER_LEN;
use crate::reader::{slice_at, DecodeError, Reader};

/// ShareType: disk.
pub const SHARE_TYPE_DISK: u8 = 0x01;
/// ShareType: named pipe.
pub const SHARE_TYPE_PIPE: u8 = 0x02;

/// ShareFlags: no client-side caching.
pub const SHAREFLAG_NO_CACHING: u32 = 0x0000_0030;

/// SMB2 TREE_CONNECT request (MS-SMB2 2.2.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeConnectRequest {
    /// Flags (3.1.1).
    pub flags: u16,
    /// The UNC path `\\server\share`, UTF-16 decoded.
    pub path: String,
}

impl TreeConnectRequest {
    /// Decodes; `msg` starts at the SMB2 header.
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(9)?;
        let flags = r.u16()?;
        let off = usize::from(r.u16()?);
        let len = usize::from(r.u16()?);
        let path = crate::utf16_to_string(slice_at(msg, off, len)?)?;
        Ok(TreeConnectRequest { flags, path })
    }
}

/// Splits a UNC path `\\server\share` into the share name. Accepts `/` too, tolerates a
/// trailing separator, and refuses empty or extra components.
pub fn share_name_from_unc(path: &str) -> Option<&str> {
    let p = path
        .strip_prefix("\\\\")
        .or_else(|| path.strip_prefix("//"))?;
    let mut parts = p.split(['\\', '/']);
    let server = parts.next()?;
    let share = parts.next()?;
    let rest: Vec<&str> = parts.collect();
    if server.is_empty() || share.is_empty() || rest.iter().any(|s| !s.is_empty()) || rest.len() > 1
    {
        return None;
    }
    Some(share)
}

/// Encodes a TREE_CONNECT response body (MS-SMB2 2.2.10).
pub fn encode_tree_connect_response(
    out: &mut impl BufMut,
    share_type: u8,
    share_flags: u32,
    capabilities: u32,
    maximal_access: u32,
) {
    out.put_u16_le(16);
    out.put_u8(share_type);
    out.put_u8(0);
    out.put_u32_le(share_flags);
    out.put_u32_le(capabilities);
    out.put_u32_le(maximal_access);
}

/// Decodes a TREE_DISCONNECT request (MS-SMB2 2.2.11).
pub fn decode_tree_disconnect(msg: &[u8]) -> Result<(), DecodeError> {
    Reader::at(msg, HEADER_LEN)?.structure_size(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unc_edge_cases() {
        assert_eq!(share_name_from_unc("\\\\127.0.0.1\\data"), Some("data"));
        assert_eq!(share_name_from_unc("\\\\srv\\IPC$"), Some("IPC$"));
        assert_eq!(share_name_from_unc("\\\\srv\\data\\"), Some("data"));
        assert_eq!(share_name_from_unc("//srv/data"), Some("data"));
        assert_eq!(share_name_from_unc("\\\\srv\\data\\sub"), None);
        assert_eq!(share_name_from_unc("\\\\srv\\"), None);
        assert_eq!(share_name_from_unc("\\\\\\data"), None);
        assert_eq!(share_name_from_unc("data"), None);
        assert_eq!(share_name_from_unc(""), None);
    }
}
