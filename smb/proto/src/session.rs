//! SESSION_SETUP (MS-SMB2 2.2.5, 2.2.6) and LOGOFF (2.2.7, 2.2.8).

use bytes::BufMut;

use crate::header::HEADER_LEN;
use crate::reader::{slice_at, DecodeError, Reader};

/// SessionFlags: guest session.
pub const SESSION_FLAG_IS_GUEST: u16 = 0x0001;
/// SessionFlags: anonymous session.
pub const SESSION_FLAG_IS_NULL: u16 = 0x0002;
/// SessionFlags: encrypt data.
pub const SESSION_FLAG_ENCRYPT_DATA: u16 = 0x0004;
/// Request flag: bind an existing session to this connection (multichannel).
pub const SESSION_FLAG_BINDING: u8 = 0x01;

/// SMB2 SESSION_SETUP request (MS-SMB2 2.2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSetupRequest<'a> {
    /// Flags.
    pub flags: u8,
    /// SecurityMode.
    pub security_mode: u8,
    /// Capabilities.
    pub capabilities: u32,
    /// PreviousSessionId.
    pub previous_session_id: u64,
    /// The GSS token (SPNEGO or raw NTLMSSP).
    pub security_buffer: &'a [u8],
}

impl<'a> SessionSetupRequest<'a> {
    /// Decodes; `msg` starts at the SMB2 header.
    pub fn decode(msg: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(25)?;
        let flags = r.u8()?;
        let security_mode = r.u8()?;
        let capabilities = r.u32()?;
        r.skip(4)?; // Channel
        let off = usize::from(r.u16()?);
        let len = usize::from(r.u16()?);
        let previous_session_id = r.u64()?;
        let security_buffer = slice_at(msg, off, len)?;
        Ok(SessionSetupRequest {
            flags,
            security_mode,
            capabilities,
            previous_session_id,
            security_buffer,
        })
    }
}

/// Encodes a SESSION_SETUP response body (MS-SMB2 2.2.6).
pub fn encode_session_setup_response(out: &mut impl BufMut, session_flags: u16, token: &[u8]) {
    out.put_u16_le(9);
    out.put_u16_le(session_flags);
    out.put_u16_le(u16::try_from(HEADER_LEN + 8).unwrap_or(0));
    out.put_u16_le(u16::try_from(token.len()).unwrap_or(0));
    out.put_slice(token);
    if token.is_empty() {
        out.put_u8(0);
    }
}

/// Decodes a LOGOFF request (MS-SMB2 2.2.7).
pub fn decode_logoff(msg: &[u8]) -> Result<(), DecodeError> {
    Reader::at(msg, HEADER_LEN)?.structure_size(4)
}

/// Encodes the 4-byte body shared by LOGOFF, TREE_DISCONNECT and ECHO responses.
pub fn encode_empty_response(out: &mut impl BufMut) {
    out.put_u16_le(4);
    out.put_u16_le(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_buffer_outside_the_message_is_refused() {
        let mut msg = vec![0u8; 64];
        msg.extend_from_slice(&[25, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        msg.extend_from_slice(&[88, 0, 200, 0]); // offset 88, length 200
        msg.extend_from_slice(&[0; 8]);
        msg.extend_from_slice(&[0x60; 10]);
        assert_eq!(
            SessionSetupRequest::decode(&msg),
            Err(DecodeError::OutOfBounds)
        );
        msg[64 + 14] = 10;
        assert_eq!(
            SessionSetupRequest::decode(&msg).unwrap().security_buffer,
            &[0x60; 10]
        );
    }
}
