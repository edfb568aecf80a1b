//! The `AAPL` create context: Apple's SMB2 extension, as macOS clients send it on their first
//! CREATE of a connection and as Samba's `vfs_fruit` answers it.
//!
//! There is no Microsoft specification: the layout is Apple's (`smb_2.h` of Apple's SMB
//! client) and Samba's (`libcli/smb/smb2_create_ctx.h`, `check_aapl()` in
//! `source3/modules/vfs_fruit.c`). All integers are little-endian.
//!
//! Request (`kAAPL_SERVER_QUERY`), exactly 24 bytes:
//! ```text
//! u32 command (1) | u32 reserved | u64 request bitmap | u64 client capabilities
//! ```
//! Response: `u32 command | u32 reserved | u64 reply bitmap`, then, in this order and only
//! when the reply bitmap has the bit: `u64 server capabilities` (SERVER_CAPS),
//! `u64 volume capabilities` (VOLUME_CAPS), `u32 reserved | u32 model byte length |
//! UTF-16LE model` (MODEL_INFO).

use bytes::BufMut;

use crate::reader::{DecodeError, Reader};

/// The create context name (a 4-byte tag, MS-SMB2 2.2.13.2 style).
pub const CONTEXT_NAME: &[u8] = b"AAPL";

/// `AAPL` command codes.
pub mod command {
    /// kAAPL_SERVER_QUERY: the client asks for the server's capabilities.
    pub const SERVER_QUERY: u32 = 1;
    /// kAAPL_RESOLVE_ID: resolve a file id to a path (not supported here).
    pub const RESOLVE_ID: u32 = 2;
}

/// Request/reply bitmap of a server query: which parts are asked for / answered.
pub mod bitmap {
    /// kAAPL_SERVER_CAPS.
    pub const SERVER_CAPS: u64 = 1;
    /// kAAPL_VOLUME_CAPS.
    pub const VOLUME_CAPS: u64 = 2;
    /// kAAPL_MODEL_INFO.
    pub const MODEL_INFO: u64 = 4;
    /// Every part this codec knows how to answer.
    pub const KNOWN: u64 = SERVER_CAPS | VOLUME_CAPS | MODEL_INFO;
}

/// Client/server capability bits.
pub mod server_caps {
    /// kAAPL_SUPPORTS_READ_DIR_ATTR: QUERY_DIRECTORY fills the Mac fields (resource fork
    /// size, Finder info, UNIX mode) into the EA size / short name fields.
    pub const SUPPORTS_READ_DIR_ATTR: u64 = 1;
    /// kAAPL_SUPPORTS_OSX_COPYFILE: a COPYCHUNK without chunks copies the whole file with its
    /// streams and metadata.
    pub const SUPPORTS_OSX_COPYFILE: u64 = 2;
    /// kAAPL_UNIX_BASED: the server runs on a UNIX file system.
    pub const UNIX_BASED: u64 = 4;
    /// kAAPL_SUPPORTS_NFS_ACE: modes travel as NFS ACEs in security descriptors.
    pub const SUPPORTS_NFS_ACE: u64 = 8;
}

/// Volume capability bits.
pub mod volume_caps {
    /// kAAPL_SUPPORT_RESOLVE_ID: the RESOLVE_ID command works.
    pub const SUPPORT_RESOLVE_ID: u64 = 1;
    /// kAAPL_CASE_SENSITIVE: names are matched case-sensitively.
    pub const CASE_SENSITIVE: u64 = 2;
    /// kAAPL_FULL_SYNC: FLUSH makes data durable (F_FULLFSYNC can be honoured).
    pub const FULL_SYNC: u64 = 4;
}

/// Length of a server-query request.
pub const SERVER_QUERY_LEN: usize = 24;

/// Longest model string accepted when decoding a reply, in bytes of UTF-16 (bounds what a
/// peer can make a client-side decoder allocate).
pub const MAX_MODEL_BYTES: usize = 512;

/// A decoded `AAPL` request context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AaplRequest {
    /// kAAPL_SERVER_QUERY.
    ServerQuery {
        /// What the client wants answered ([`bitmap`]).
        request_bitmap: u64,
        /// What the client supports ([`server_caps`]).
        client_caps: u64,
    },
    /// Any other command (RESOLVE_ID or unknown); its data is not interpreted.
    Other {
        /// The command code.
        command: u32,
    },
}

impl AaplRequest {
    /// Decodes an `AAPL` context's data. A server query must be exactly
    /// [`SERVER_QUERY_LEN`] bytes (Samba refuses any other length too); other commands only
    /// need their 4-byte command code.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let command = r.u32()?;
        if command != command::SERVER_QUERY {
            return Ok(AaplRequest::Other { command });
        }
        if data.len() != SERVER_QUERY_LEN {
            return Err(DecodeError::Invalid("AAPL server query is not 24 bytes"));
        }
        r.skip(4)?; // Reserved
        let request_bitmap = r.u64()?;
        let client_caps = r.u64()?;
        Ok(AaplRequest::ServerQuery {
            request_bitmap,
            client_caps,
        })
    }

    /// Encodes (reserved fields zero); what a client sends.
    pub fn encode(&self, out: &mut impl BufMut) {
        match *self {
            AaplRequest::ServerQuery {
                request_bitmap,
                client_caps,
            } => {
                out.put_u32_le(command::SERVER_QUERY);
                out.put_u32_le(0);
                out.put_u64_le(request_bitmap);
                out.put_u64_le(client_caps);
            }
            AaplRequest::Other { command } => out.put_u32_le(command),
        }
    }
}

/// The answer to a server query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerQueryReply {
    /// Which of the parts below are present ([`bitmap`]); only [`bitmap::KNOWN`] bits are
    /// encoded.
    pub reply_bitmap: u64,
    /// Server capabilities ([`server_caps`]), sent with [`bitmap::SERVER_CAPS`].
    pub server_caps: u64,
    /// Volume capabilities ([`volume_caps`]), sent with [`bitmap::VOLUME_CAPS`].
    pub volume_caps: u64,
    /// Model string (shown by Finder), sent with [`bitmap::MODEL_INFO`].
    pub model: String,
}

impl ServerQueryReply {
    /// Encodes the response context's data.
    pub fn encode(&self, out: &mut impl BufMut) {
        let bits = self.reply_bitmap & bitmap::KNOWN;
        out.put_u32_le(command::SERVER_QUERY);
        out.put_u32_le(0);
        out.put_u64_le(bits);
        if bits & bitmap::SERVER_CAPS != 0 {
            out.put_u64_le(self.server_caps);
        }
        if bits & bitmap::VOLUME_CAPS != 0 {
            out.put_u64_le(self.volume_caps);
        }
        if bits & bitmap::MODEL_INFO != 0 {
            let units: Vec<u16> = self
                .model
                .encode_utf16()
                .take(MAX_MODEL_BYTES / 2)
                .collect();
            out.put_u32_le(0);
            // At most MAX_MODEL_BYTES: fits.
            out.put_u32_le(u32::try_from(units.len() * 2).unwrap_or(0));
            for u in units {
                out.put_u16_le(u);
            }
        }
    }

    /// Decodes a reply (what a client does; used by tests and the fuzz target). Bits outside
    /// [`bitmap::KNOWN`] are an error: their layout is unknown.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        if r.u32()? != command::SERVER_QUERY {
            return Err(DecodeError::Invalid("AAPL reply is not a server query"));
        }
        r.skip(4)?;
        let reply_bitmap = r.u64()?;
        if reply_bitmap & !bitmap::KNOWN != 0 {
            return Err(DecodeError::Invalid("unknown AAPL reply bits"));
        }
        let server_caps = if reply_bitmap & bitmap::SERVER_CAPS != 0 {
            r.u64()?
        } else {
            0
        };
        let volume_caps = if reply_bitmap & bitmap::VOLUME_CAPS != 0 {
            r.u64()?
        } else {
            0
        };
        let model = if reply_bitmap & bitmap::MODEL_INFO != 0 {
            r.skip(4)?;
            let len = usize::try_from(r.u32()?).map_err(|_| DecodeError::OutOfBounds)?;
            if len > MAX_MODEL_BYTES {
                return Err(DecodeError::Invalid("AAPL model string too long"));
            }
            crate::utf16_to_string(r.take(len)?)?
        } else {
            String::new()
        };
        if r.remaining() != 0 {
            return Err(DecodeError::Invalid("trailing bytes after AAPL reply"));
        }
        Ok(ServerQueryReply {
            reply_bitmap,
            server_caps,
            volume_caps,
            model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server query as macOS sends it: all three parts, client caps READ_DIR_ATTR |
    /// OSX_COPYFILE | UNIX_BASED | NFS_ACE.
    const MACOS_QUERY: [u8; 24] = [
        1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0x0f, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn decodes_macos_query() {
        let q = AaplRequest::decode(&MACOS_QUERY).unwrap();
        assert_eq!(
            q,
            AaplRequest::ServerQuery {
                request_bitmap: 7,
                client_caps: 0x0f
            }
        );
        let mut again = Vec::new();
        q.encode(&mut again);
        assert_eq!(again, MACOS_QUERY);
    }

    #[test]
    fn bad_lengths_and_other_commands() {
        assert!(AaplRequest::decode(&[]).is_err());
        assert!(AaplRequest::decode(&[1, 0]).is_err());
        assert!(AaplRequest::decode(MACOS_QUERY.get(..20).unwrap()).is_err());
        let mut long = MACOS_QUERY.to_vec();
        long.push(0);
        assert!(AaplRequest::decode(&long).is_err());
        assert_eq!(
            AaplRequest::decode(&[2, 0, 0, 0, 9, 9]).unwrap(),
            AaplRequest::Other { command: 2 }
        );
        assert_eq!(
            AaplRequest::decode(&[0xff, 0, 0, 0]).unwrap(),
            AaplRequest::Other { command: 0xff }
        );
    }

    #[test]
    fn reply_round_trips() {
        for bits in 0..=7u64 {
            let reply = ServerQueryReply {
                reply_bitmap: bits,
                server_caps: if bits & 1 != 0 {
                    server_caps::UNIX_BASED
                } else {
                    0
                },
                volume_caps: if bits & 2 != 0 {
                    volume_caps::CASE_SENSITIVE | volume_caps::FULL_SYNC
                } else {
                    0
                },
                model: if bits & 4 != 0 {
                    "shoal".into()
                } else {
                    String::new()
                },
            };
            let mut out = Vec::new();
            reply.encode(&mut out);
            assert_eq!(ServerQueryReply::decode(&out).unwrap(), reply);
        }
    }

    #[test]
    fn reply_layout() {
        let reply = ServerQueryReply {
            reply_bitmap: 7 | 0x100, // unknown bits are not echoed
            server_caps: 4,
            volume_caps: 6,
            model: "ab".into(),
        };
        let mut out = Vec::new();
        reply.encode(&mut out);
        assert_eq!(
            out,
            [
                1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, // command, reserved, bitmap
                4, 0, 0, 0, 0, 0, 0, 0, // server caps
                6, 0, 0, 0, 0, 0, 0, 0, // volume caps
                0, 0, 0, 0, 4, 0, 0, 0, b'a', 0, b'b', 0, // model
            ]
        );
    }

    /// What the `smb_aapl` fuzz target checks, over every truncation and single-byte change
    /// of a request and a reply.
    #[test]
    fn replayed_fuzz_cases() {
        let mut reply = Vec::new();
        ServerQueryReply {
            reply_bitmap: 7,
            server_caps: 4,
            volume_caps: 6,
            model: "shoal".into(),
        }
        .encode(&mut reply);
        for seed in [MACOS_QUERY.to_vec(), reply] {
            let mut cases = Vec::new();
            for n in 0..=seed.len() {
                cases.push(seed.get(..n).unwrap().to_vec());
            }
            for i in 0..seed.len() {
                for v in [0u8, 1, 0x7f, 0xff] {
                    let mut c = seed.clone();
                    c[i] = v;
                    cases.push(c);
                }
            }
            for data in cases {
                if let Ok(q) = AaplRequest::decode(&data) {
                    let mut again = Vec::new();
                    q.encode(&mut again);
                    if matches!(q, AaplRequest::ServerQuery { .. })
                        && data.get(4..8) == Some(&[0; 4][..])
                    {
                        assert_eq!(again, data);
                    }
                }
                if let Ok(r) = ServerQueryReply::decode(&data) {
                    let mut again = Vec::new();
                    r.encode(&mut again);
                    assert_eq!(ServerQueryReply::decode(&again).as_ref(), Ok(&r));
                }
            }
        }
    }

    #[test]
    fn hostile_replies_fail() {
        let mut out = Vec::new();
        ServerQueryReply {
            reply_bitmap: 4,
            server_caps: 0,
            volume_caps: 0,
            model: "x".into(),
        }
        .encode(&mut out);
        // Model length pointing past the end, and far past the cap.
        let mut past = out.clone();
        if let Some(b) = past.get_mut(20) {
            *b = 200;
        }
        assert!(ServerQueryReply::decode(&past).is_err());
        let mut huge = out.clone();
        if let Some(b) = huge.get_mut(23) {
            *b = 0xff;
        }
        assert!(ServerQueryReply::decode(&huge).is_err());
        // Truncated at every length.
        for n in 0..out.len() {
            assert!(ServerQueryReply::decode(out.get(..n).unwrap()).is_err());
        }
    }
}
