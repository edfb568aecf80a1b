//! IOCTL (MS-SMB2 2.2.31, 2.2.32).

use bytes::BufMut;

use crate::header::HEADER_LEN;
use crate::misc::FileId;
use crate::reader::{slice_at, DecodeError, Reader};

/// FSCTL_PIPE_TRANSCEIVE: write then read a named pipe in one round trip.
pub const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
/// FSCTL_VALIDATE_NEGOTIATE_INFO (3.0/3.0.2 secure dialect negotiation).
pub const FSCTL_VALIDATE_NEGOTIATE_INFO: u32 = 0x0014_0204;
/// FSCTL_DFS_GET_REFERRALS.
pub const FSCTL_DFS_GET_REFERRALS: u32 = 0x0006_0194;
/// Flags: the request is an FSCTL.
pub const IOCTL_IS_FSCTL: u32 = 0x0000_0001;

/// SMB2 IOCTL request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoctlRequest<'a> {
    /// CtlCode.
    pub ctl_code: u32,
    /// FileId.
    pub file_id: FileId,
    /// Input buffer.
    pub input: &'a [u8],
    /// MaxOutputResponse.
    pub max_output: u32,
    /// Flags.
    pub flags: u32,
}

impl<'a> IoctlRequest<'a> {
    /// Decodes; `msg` starts at the SMB2 header.
    pub fn decode(msg: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(57)?;
        r.skip(2)?;
        let ctl_code = r.u32()?;
        let file_id = FileId::decode(&mut r)?;
        let in_off = usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)?;
        let in_len = usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)?;
        r.skip(4)?; // MaxInputResponse
        r.skip(8)?; // OutputOffset, OutputCount
        let max_output = r.u32()?;
        let flags = r.u32()?;
        let input = slice_at(msg, in_off, in_len)?;
        Ok(IoctlRequest { ctl_code, file_id, input, max_output, flags })
    }
}

/// Encodes an IOCTL response body (MS-SMB2 2.2.32) with `output`.
pub fn encode_ioctl_response(out: &mut impl BufMut, ctl_code: u32, file_id: FileId, output: &[u8]) {
    let off = u32::try_from(HEADER_LEN + 48).unwrap_or(0);
    out.put_u16_le(49);
    out.put_u16_le(0);
    out.put_u32_le(ctl_code);
    file_id.encode(out);
    out.put_u32_le(off); // InputOffset
    out.put_u32_le(0); // InputCount
    out.put_u32_le(if output.is_empty() { 0 } else { off });
    out.put_u32_le(u32::try_from(output.len()).unwrap_or(0));
    out.put_u32_le(0);
    out.put_u32_le(0);
    out.put_slice(output);
    if output.is_empty() {
        out.put_u8(0);
    }
}
