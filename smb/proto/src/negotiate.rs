//! NEGOTIATE (MS-SMB2 2.2.3, 2.2.4) with 3.1.1 negotiate contexts (2.2.3.1, 2.2.4.1), and the
//! SMB1 NEGOTIATE that older and some current clients send first (MS-SMB2 3.3.5.3).

use bytes::BufMut;

use crate::header::{Dialect, HEADER_LEN};
use crate::reader::{slice_at, DecodeError, Reader};

/// SecurityMode: signing enabled.
pub const SIGNING_ENABLED: u16 = 0x0001;
/// SecurityMode: signing required.
pub const SIGNING_REQUIRED: u16 = 0x0002;

/// Capabilities (MS-SMB2 2.2.3 Capabilities).
pub mod capabilities {
    /// DFS.
    pub const DFS: u32 = 0x0000_0001;
    /// Leasing.
    pub const LEASING: u32 = 0x0000_0002;
    /// Multi-credit operations.
    pub const LARGE_MTU: u32 = 0x0000_0004;
    /// Multichannel.
    pub const MULTI_CHANNEL: u32 = 0x0000_0008;
    /// Persistent handles.
    pub const PERSISTENT_HANDLES: u32 = 0x0000_0010;
    /// Directory leasing.
    pub const DIRECTORY_LEASING: u32 = 0x0000_0020;
    /// Encryption.
    pub const ENCRYPTION: u32 = 0x0000_0040;
}

/// Negotiate context types (MS-SMB2 2.2.3.1 ContextType).
pub mod context_type {
    /// SMB2_PREAUTH_INTEGRITY_CAPABILITIES.
    pub const PREAUTH_INTEGRITY: u16 = 0x0001;
    /// SMB2_ENCRYPTION_CAPABILITIES.
    pub const ENCRYPTION: u16 = 0x0002;
    /// SMB2_COMPRESSION_CAPABILITIES.
    pub const COMPRESSION: u16 = 0x0003;
    /// SMB2_NETNAME_NEGOTIATE_CONTEXT_ID.
    pub const NETNAME: u16 = 0x0005;
    /// SMB2_TRANSPORT_CAPABILITIES.
    pub const TRANSPORT: u16 = 0x0006;
    /// SMB2_RDMA_TRANSFORM_CAPABILITIES.
    pub const RDMA_TRANSFORM: u16 = 0x0007;
    /// SMB2_SIGNING_CAPABILITIES.
    pub const SIGNING: u16 = 0x0008;
}

/// Preauth integrity hash algorithm SHA-512 (MS-SMB2 2.2.3.1.1).
pub const HASH_SHA512: u16 = 0x0001;

/// Signing algorithm ids (MS-SMB2 2.2.3.1.7).
pub mod signing_algorithm {
    /// HMAC-SHA256.
    pub const HMAC_SHA256: u16 = 0x0000;
    /// AES-CMAC.
    pub const AES_CMAC: u16 = 0x0001;
    /// AES-GMAC.
    pub const AES_GMAC: u16 = 0x0002;
}

/// A negotiate context as the client sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NegotiateContext {
    /// SMB2_PREAUTH_INTEGRITY_CAPABILITIES.
    PreauthIntegrity {
        /// HashAlgorithms.
        hash_algorithms: Vec<u16>,
        /// Salt.
        salt: Vec<u8>,
    },
    /// SMB2_ENCRYPTION_CAPABILITIES.
    Encryption {
        /// Ciphers.
        ciphers: Vec<u16>,
    },
    /// SMB2_SIGNING_CAPABILITIES.
    Signing {
        /// SigningAlgorithms.
        algorithms: Vec<u16>,
    },
    /// Any other context: ignored by the server (MS-SMB2 3.3.5.4: unknown contexts MUST be
    /// ignored).
    Other {
        /// ContextType.
        context_type: u16,
        /// Data length.
        len: usize,
    },
}

/// SMB2 NEGOTIATE request (MS-SMB2 2.2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegotiateRequest {
    /// SecurityMode.
    pub security_mode: u16,
    /// Capabilities.
    pub capabilities: u32,
    /// ClientGuid.
    pub client_guid: [u8; 16],
    /// Dialects offered.
    pub dialects: Vec<Dialect>,
    /// Negotiate contexts (only read when 3.1.1 is offered).
    pub contexts: Vec<NegotiateContext>,
}

fn u16_list(r: &mut Reader<'_>, count: usize) -> Result<Vec<u16>, DecodeError> {
    let bytes = r.take(count.checked_mul(2).ok_or(DecodeError::OutOfBounds)?)?;
    Ok(bytes
        .chunks_exact(2)
        .map(|c| <[u8; 2]>::try_from(c).map(u16::from_le_bytes).unwrap_or(0))
        .collect())
}

impl NegotiateRequest {
    /// Decodes a NEGOTIATE request; `msg` starts at the SMB2 header.
    pub fn decode(msg: &[u8]) -> Result<NegotiateRequest, DecodeError> {
        let mut r = Reader::at(msg, HEADER_LEN)?;
        r.structure_size(36)?;
        let dialect_count = usize::from(r.u16()?);
        let security_mode = r.u16()?;
        r.skip(2)?;
        let capabilities = r.u32()?;
        let client_guid = r.array()?;
        let context_offset = usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)?;
        let context_count = usize::from(r.u16()?);
        r.skip(2)?;
        if dialect_count == 0 {
            // MS-SMB2 3.3.5.3.1: DialectCount 0 fails with STATUS_INVALID_PARAMETER.
            return Err(DecodeError::Invalid("no dialects"));
        }
        let dialects: Vec<Dialect> = u16_list(&mut r, dialect_count)?
            .into_iter()
            .map(Dialect)
            .collect();
        let mut contexts = Vec::new();
        if dialects.contains(&Dialect::SMB3_1_1) && context_count > 0 {
            let mut r = Reader::at(msg, context_offset)?;
            if context_count.saturating_mul(8) > r.remaining() {
                return Err(DecodeError::OutOfBounds);
            }
            for i in 0..context_count {
                if i > 0 {
                    // Each context after the first starts 8-byte aligned (from the header).
                    let pad = (8 - r.position() % 8) % 8;
                    r.skip(pad)?;
                }
                let context_type = r.u16()?;
                let len = usize::from(r.u16()?);
                r.skip(4)?;
                let data = r.take(len)?;
                contexts.push(decode_context(context_type, data)?);
            }
        }
        Ok(NegotiateRequest {
            security_mode,
            capabilities,
            client_guid,
            dialects,
            contexts,
        })
    }
}

fn decode_context(context_type: u16, data: &[u8]) -> Result<NegotiateContext, DecodeError> {
    let mut r = Reader::new(data);
    Ok(match context_type {
        context_type::PREAUTH_INTEGRITY => {
            let count = usize::from(r.u16()?);
            let salt_len = usize::from(r.u16()?);
            let hash_algorithms = u16_list(&mut r, count)?;
            let salt = r.take(salt_len)?.to_vec();
            NegotiateContext::PreauthIntegrity {
                hash_algorithms,
                salt,
            }
        }
        context_type::ENCRYPTION => {
            let count = usize::from(r.u16()?);
            NegotiateContext::Encryption {
                ciphers: u16_list(&mut r, count)?,
            }
        }
        context_type::SIGNING => {
            let count = usize::from(r.u16()?);
            NegotiateContext::Signing {
                algorithms: u16_list(&mut r, count)?,
            }
        }
        other => NegotiateContext::Other {
            context_type: other,
            len: data.len(),
        },
    })
}

/// A context the server answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseContext {
    /// Preauth integrity: SHA-512 with this salt.
    PreauthIntegrity {
        /// Salt (32 random bytes from the caller).
        salt: [u8; 32],
    },
    /// Signing algorithm chosen.
    Signing(u16),
    /// Cipher chosen (0 = none in common).
    Encryption(u16),
}

/// SMB2 NEGOTIATE response (MS-SMB2 2.2.4).
#[derive(Clone, Debug)]
pub struct NegotiateResponse<'a> {
    /// SecurityMode.
    pub security_mode: u16,
    /// DialectRevision.
    pub dialect: Dialect,
    /// ServerGuid.
    pub server_guid: [u8; 16],
    /// Capabilities.
    pub capabilities: u32,
    /// MaxTransactSize.
    pub max_transact_size: u32,
    /// MaxReadSize.
    pub max_read_size: u32,
    /// MaxWriteSize.
    pub max_write_size: u32,
    /// SystemTime (FILETIME).
    pub system_time: u64,
    /// Security buffer (SPNEGO NegTokenInit).
    pub security_buffer: &'a [u8],
    /// Negotiate contexts (3.1.1 only).
    pub contexts: Vec<ResponseContext>,
}

impl NegotiateResponse<'_> {
    /// Encodes the body (it follows the 64-byte header).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let sec_offset = HEADER_LEN + 64;
        let sec_len = self.security_buffer.len();
        let ctx_offset = if self.contexts.is_empty() {
            0
        } else {
            (sec_offset + sec_len + 7) & !7
        };
        out.put_u16_le(65);
        out.put_u16_le(self.security_mode);
        out.put_u16_le(self.dialect.0);
        out.put_u16_le(u16::try_from(self.contexts.len()).unwrap_or(0));
        out.put_slice(&self.server_guid);
        out.put_u32_le(self.capabilities);
        out.put_u32_le(self.max_transact_size);
        out.put_u32_le(self.max_read_size);
        out.put_u32_le(self.max_write_size);
        out.put_u64_le(self.system_time);
        out.put_u64_le(0); // ServerStartTime
        out.put_u16_le(u16::try_from(sec_offset).unwrap_or(0));
        out.put_u16_le(u16::try_from(sec_len).unwrap_or(0));
        out.put_u32_le(u32::try_from(ctx_offset).unwrap_or(0));
        out.put_slice(self.security_buffer);
        if self.security_buffer.is_empty() && self.contexts.is_empty() {
            out.put_u8(0); // the variable part is at least one byte
        }
        for (i, c) in self.contexts.iter().enumerate() {
            // Pad to 8 bytes relative to the header, which starts 64 bytes before `start`.
            while !(out.len() - start + HEADER_LEN).is_multiple_of(8) {
                out.put_u8(0);
            }
            let _ = i;
            match c {
                ResponseContext::PreauthIntegrity { salt } => {
                    out.put_u16_le(context_type::PREAUTH_INTEGRITY);
                    out.put_u16_le(4 + 2 + 32);
                    out.put_u32_le(0);
                    out.put_u16_le(1);
                    out.put_u16_le(32);
                    out.put_u16_le(HASH_SHA512);
                    out.put_slice(salt);
                }
                ResponseContext::Signing(alg) => {
                    out.put_u16_le(context_type::SIGNING);
                    out.put_u16_le(4);
                    out.put_u32_le(0);
                    out.put_u16_le(1);
                    out.put_u16_le(*alg);
                }
                ResponseContext::Encryption(cipher) => {
                    out.put_u16_le(context_type::ENCRYPTION);
                    out.put_u16_le(4);
                    out.put_u32_le(0);
                    out.put_u16_le(1);
                    out.put_u16_le(*cipher);
                }
            }
        }
    }
}

/// What an SMB1 NEGOTIATE asks for (MS-SMB2 3.3.5.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Smb1Negotiate {
    /// Offers "SMB 2.???": answer with the wildcard revision 0x02FF.
    Wildcard,
    /// Offers only "SMB 2.002": answer with 2.0.2.
    Smb202,
    /// Offers no SMB2 dialect.
    NoSmb2,
}

/// Parses an SMB1 NEGOTIATE (MS-CIFS 2.2.4.52.1) far enough to see which SMB2 dialect
/// strings it offers. `msg` starts at the `0xFF 'S' 'M' 'B'` header.
pub fn parse_smb1_negotiate(msg: &[u8]) -> Result<Smb1Negotiate, DecodeError> {
    let mut r = Reader::new(msg);
    if r.array::<4>()? != crate::header::SMB1_ID {
        return Err(DecodeError::Invalid("not SMB1"));
    }
    if r.u8()? != 0x72 {
        return Err(DecodeError::Invalid("SMB1 command other than NEGOTIATE"));
    }
    r.skip(27)?; // rest of the 32-byte SMB1 header
    let word_count = usize::from(r.u8()?);
    r.skip(word_count.checked_mul(2).ok_or(DecodeError::OutOfBounds)?)?;
    let byte_count = usize::from(r.u16()?);
    let dialects = r.take(byte_count)?;
    let mut wildcard = false;
    let mut smb202 = false;
    for d in dialects.split(|b| *b == 0) {
        let name = d.strip_prefix(&[0x02]).unwrap_or(d);
        if name == b"SMB 2.???" {
            wildcard = true;
        } else if name == b"SMB 2.002" {
            smb202 = true;
        }
    }
    Ok(if wildcard {
        Smb1Negotiate::Wildcard
    } else if smb202 {
        Smb1Negotiate::Smb202
    } else {
        Smb1Negotiate::NoSmb2
    })
}

/// Input of FSCTL_VALIDATE_NEGOTIATE_INFO (MS-SMB2 2.2.31.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidateNegotiateInfo {
    /// Capabilities.
    pub capabilities: u32,
    /// Guid (client GUID).
    pub guid: [u8; 16],
    /// SecurityMode.
    pub security_mode: u16,
    /// Dialects.
    pub dialects: Vec<Dialect>,
}

impl ValidateNegotiateInfo {
    /// Decodes the IOCTL input buffer.
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(input);
        let capabilities = r.u32()?;
        let guid = r.array()?;
        let security_mode = r.u16()?;
        let count = usize::from(r.u16()?);
        let dialects = u16_list(&mut r, count)?.into_iter().map(Dialect).collect();
        Ok(ValidateNegotiateInfo {
            capabilities,
            guid,
            security_mode,
            dialects,
        })
    }
}

/// Output of FSCTL_VALIDATE_NEGOTIATE_INFO (MS-SMB2 2.2.32.6).
pub fn encode_validate_negotiate_response(
    out: &mut impl BufMut,
    capabilities: u32,
    guid: &[u8; 16],
    security_mode: u16,
    dialect: Dialect,
) {
    out.put_u32_le(capabilities);
    out.put_slice(guid);
    out.put_u16_le(security_mode);
    out.put_u16_le(dialect.0);
}

/// Reads the security buffer of a NEGOTIATE response (for tests and clients).
pub fn response_security_buffer(msg: &[u8]) -> Result<&[u8], DecodeError> {
    let mut r = Reader::at(msg, HEADER_LEN + 56)?;
    let off = usize::from(r.u16()?);
    let len = usize::from(r.u16()?);
    slice_at(msg, off, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn decodes_the_311_request_from_the_preauth_blog() {
        // Negotiate request of "SMB 3.1.1 Pre-authentication integrity in Windows 10".
        let msg = hex(concat!(
            "FE534D4240000100000000000000800000000000000000000100000000000000FFFE000000000000",
            "00000000000000000000000000000000000000000000000024000500000000003F000000ECD86F32",
            "6276024F9F7752B89BB33F3A70000000020000000202100200030203110300000100260000000000",
            "010020000100FA49E6578F1F3A9F4CD3E9CC14A67AA884B3D05844E0E5A118225C15887F32FF0000",
            "0200060000000000020002000100"
        ));
        let req = NegotiateRequest::decode(&msg).unwrap();
        assert_eq!(req.dialects.len(), 5);
        assert_eq!(req.dialects[4], Dialect::SMB3_1_1);
        assert_eq!(req.contexts.len(), 2);
        assert!(
            matches!(&req.contexts[0], NegotiateContext::PreauthIntegrity { hash_algorithms, salt }
            if hash_algorithms == &[1] && salt.len() == 32)
        );
        assert_eq!(
            req.contexts[1],
            NegotiateContext::Encryption {
                ciphers: vec![2, 1]
            }
        );
    }

    #[test]
    fn bad_offsets_and_counts_are_refused() {
        let mut msg = vec![0u8; 64];
        msg.extend_from_slice(&[36, 0, 200, 0]);
        msg.extend_from_slice(&[0; 32]);
        assert!(NegotiateRequest::decode(&msg).is_err());
    }

    #[test]
    fn smb1_negotiate_offers() {
        let mut msg = vec![0xFF, b'S', b'M', b'B', 0x72];
        msg.extend_from_slice(&[0; 27]);
        msg.push(0);
        let d = b"\x02NT LM 0.12\0\x02SMB 2.002\0\x02SMB 2.???\0";
        msg.extend_from_slice(&(d.len() as u16).to_le_bytes());
        msg.extend_from_slice(d);
        assert_eq!(parse_smb1_negotiate(&msg), Ok(Smb1Negotiate::Wildcard));
        assert!(parse_smb1_negotiate(&msg[..40]).is_err());
    }
}
