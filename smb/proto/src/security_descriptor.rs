//! The SMB side of security descriptors: the statuses SET_INFO / the SecD create context answer
//! for a descriptor that does not decode, and the BUFFER_TOO_SMALL body of QUERY_INFO
//! security. The descriptor codec, access evaluation and inheritance are protocol-neutral and
//! live in `shoal-vfs` (`shoal_vfs::acl`), which binds NFS callers too.

use bytes::BufMut;

use crate::NtStatus;

/// STATUS_INVALID_SECURITY_DESCR (MS-ERREF 2.3.1): a descriptor that does not parse.
pub const STATUS_INVALID_SECURITY_DESCR: NtStatus = NtStatus(0xC000_0079);
/// STATUS_INVALID_OWNER (MS-ERREF 2.3.1).
pub const STATUS_INVALID_OWNER: NtStatus = NtStatus(0xC000_005A);

/// Length of the fixed SECURITY_DESCRIPTOR header (MS-DTYP 2.4.6).
pub const HEADER_LEN: usize = 20;

/// The status a descriptor `b` that failed to decode answers: a buffer shorter than the fixed
/// header is INVALID_PARAMETER, any other malformed descriptor STATUS_INVALID_SECURITY_DESCR
/// (what RtlValidRelativeSecurityDescriptor makes Windows answer).
pub fn decode_status(b: &[u8]) -> NtStatus {
    if b.len() < HEADER_LEN {
        NtStatus::INVALID_PARAMETER
    } else {
        STATUS_INVALID_SECURITY_DESCR
    }
}

/// The SMB2 ERROR body of a BUFFER_TOO_SMALL answer to QUERY_INFO security (MS-SMB2
/// 3.3.5.20.3, 2.2.2): the required length, as an error context on 3.1.1 (ByteCount 12,
/// ErrorContextCount 1), else as 4 bytes of ErrorData.
pub fn encode_buffer_too_small(out: &mut impl BufMut, required: u32, smb311: bool) {
    out.put_u16_le(9);
    if smb311 {
        out.put_u8(1);
        out.put_u8(0);
        out.put_u32_le(12);
        out.put_u32_le(4); // ErrorDataLength
        out.put_u32_le(0); // ErrorId: SMB2_ERROR_ID_DEFAULT
        out.put_u32_le(required);
    } else {
        out.put_u8(0);
        out.put_u8(0);
        out.put_u32_le(4);
        out.put_u32_le(required);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_statuses() {
        assert_eq!(decode_status(&[0; 19]), NtStatus::INVALID_PARAMETER);
        assert_eq!(decode_status(&[0; 20]), STATUS_INVALID_SECURITY_DESCR);
    }

    #[test]
    fn buffer_too_small_bodies() {
        let mut v = Vec::new();
        encode_buffer_too_small(&mut v, 0x1234, false);
        assert_eq!(v, [9, 0, 0, 0, 4, 0, 0, 0, 0x34, 0x12, 0, 0]);
        let mut v = Vec::new();
        encode_buffer_too_small(&mut v, 0x1234, true);
        assert_eq!(v.len(), 8 + 12);
        assert_eq!(&v[..8], &[9, 0, 1, 0, 12, 0, 0, 0]);
        assert_eq!(&v[16..], &[0x34, 0x12, 0, 0]);
    }
}
