//! The SMB2 packet header (MS-SMB2 2.2.1): 64 bytes, sync or async form.

use bytes::BufMut;

use crate::open_enum;
use crate::reader::{DecodeError, Reader};
use crate::status::NtStatus;

/// `0xFE 'S' 'M' 'B'` (MS-SMB2 2.2.1.1 ProtocolId).
pub const PROTOCOL_ID: [u8; 4] = [0xFE, b'S', b'M', b'B'];
/// `0xFD 'S' 'M' 'B'`: SMB2 TRANSFORM_HEADER (encrypted message, MS-SMB2 2.2.41).
pub const TRANSFORM_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];
/// `0xFF 'S' 'M' 'B'`: an SMB1 message (only the first NEGOTIATE is understood).
pub const SMB1_ID: [u8; 4] = [0xFF, b'S', b'M', b'B'];
/// Size of the header.
pub const HEADER_LEN: usize = 64;
/// Offset of the Signature field inside the header.
pub const SIGNATURE_OFFSET: usize = 48;

open_enum! {
    /// SMB2 command code (MS-SMB2 2.2.1.2 Command).
    Command(u16) {
        /// NEGOTIATE.
        NEGOTIATE = 0x0000,
        /// SESSION_SETUP.
        SESSION_SETUP = 0x0001,
        /// LOGOFF.
        LOGOFF = 0x0002,
        /// TREE_CONNECT.
        TREE_CONNECT = 0x0003,
        /// TREE_DISCONNECT.
        TREE_DISCONNECT = 0x0004,
        /// CREATE.
        CREATE = 0x0005,
        /// CLOSE.
        CLOSE = 0x0006,
        /// FLUSH.
        FLUSH = 0x0007,
        /// READ.
        READ = 0x0008,
        /// WRITE.
        WRITE = 0x0009,
        /// LOCK.
        LOCK = 0x000A,
        /// IOCTL.
        IOCTL = 0x000B,
        /// CANCEL.
        CANCEL = 0x000C,
        /// ECHO.
        ECHO = 0x000D,
        /// QUERY_DIRECTORY.
        QUERY_DIRECTORY = 0x000E,
        /// CHANGE_NOTIFY.
        CHANGE_NOTIFY = 0x000F,
        /// QUERY_INFO.
        QUERY_INFO = 0x0010,
        /// SET_INFO.
        SET_INFO = 0x0011,
        /// OPLOCK_BREAK.
        OPLOCK_BREAK = 0x0012,
    }
}

open_enum! {
    /// Dialect revision (MS-SMB2 2.2.3 Dialects).
    Dialect(u16) {
        /// SMB 2.0.2.
        SMB2_0_2 = 0x0202,
        /// SMB 2.1.
        SMB2_1 = 0x0210,
        /// SMB 3.0.
        SMB3_0 = 0x0300,
        /// SMB 3.0.2.
        SMB3_0_2 = 0x0302,
        /// SMB 3.1.1.
        SMB3_1_1 = 0x0311,
        /// SMB2 wildcard revision (answer to a multi-protocol SMB1 NEGOTIATE).
        SMB2_WILDCARD = 0x02FF,
    }
}

impl Dialect {
    /// The dialects this server speaks, best first.
    pub const SUPPORTED: [Dialect; 5] = [
        Dialect::SMB3_1_1,
        Dialect::SMB3_0_2,
        Dialect::SMB3_0,
        Dialect::SMB2_1,
        Dialect::SMB2_0_2,
    ];

    /// SMB 3.x family.
    pub fn is_smb3(self) -> bool {
        matches!(
            self,
            Dialect::SMB3_0 | Dialect::SMB3_0_2 | Dialect::SMB3_1_1
        )
    }
}

/// Header flags (MS-SMB2 2.2.1.2 Flags).
pub mod flags {
    /// Response.
    pub const SERVER_TO_REDIR: u32 = 0x0000_0001;
    /// Async header form.
    pub const ASYNC_COMMAND: u32 = 0x0000_0002;
    /// Related operation in a compound chain.
    pub const RELATED_OPERATIONS: u32 = 0x0000_0004;
    /// Signed.
    pub const SIGNED: u32 = 0x0000_0008;
    /// Priority mask (3.1.1).
    pub const PRIORITY_MASK: u32 = 0x0000_0070;
    /// DFS operation.
    pub const DFS_OPERATIONS: u32 = 0x1000_0000;
    /// Replay operation (3.x).
    pub const REPLAY_OPERATION: u32 = 0x2000_0000;
}

/// A decoded SMB2 header. Sync form carries `tree_id`; async form carries `async_id`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// CreditCharge.
    pub credit_charge: u16,
    /// Status (responses) or ChannelSequence/Reserved (requests).
    pub status: NtStatus,
    /// Command.
    pub command: Command,
    /// CreditRequest / CreditResponse.
    pub credits: u16,
    /// Flags.
    pub flags: u32,
    /// NextCommand: offset of the next message of a compound chain, 0 for the last.
    pub next_command: u32,
    /// MessageId.
    pub message_id: u64,
    /// AsyncId (async form only).
    pub async_id: u64,
    /// TreeId (sync form only).
    pub tree_id: u32,
    /// SessionId.
    pub session_id: u64,
    /// Signature.
    pub signature: [u8; 16],
}

impl Header {
    /// Decodes the header at the start of `msg`.
    pub fn decode(msg: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(msg);
        if r.array::<4>()? != PROTOCOL_ID {
            return Err(DecodeError::Invalid("not an SMB2 message"));
        }
        r.structure_size(64)?;
        let credit_charge = r.u16()?;
        let status = NtStatus(r.u32()?);
        let command = Command(r.u16()?);
        let credits = r.u16()?;
        let flags = r.u32()?;
        let next_command = r.u32()?;
        let message_id = r.u64()?;
        let (async_id, tree_id) = if flags & flags::ASYNC_COMMAND != 0 {
            (r.u64()?, 0)
        } else {
            r.skip(4)?;
            (0, r.u32()?)
        };
        let session_id = r.u64()?;
        let signature = r.array()?;
        Ok(Header {
            credit_charge,
            status,
            command,
            credits,
            flags,
            next_command,
            message_id,
            async_id,
            tree_id,
            session_id,
            signature,
        })
    }

    /// Encodes the header (64 bytes).
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(&PROTOCOL_ID);
        out.put_u16_le(64);
        out.put_u16_le(self.credit_charge);
        out.put_u32_le(self.status.0);
        out.put_u16_le(self.command.0);
        out.put_u16_le(self.credits);
        out.put_u32_le(self.flags);
        out.put_u32_le(self.next_command);
        out.put_u64_le(self.message_id);
        if self.flags & flags::ASYNC_COMMAND != 0 {
            out.put_u64_le(self.async_id);
        } else {
            out.put_u32_le(0xFEFF);
            out.put_u32_le(self.tree_id);
        }
        out.put_u64_le(self.session_id);
        out.put_slice(&self.signature);
    }

    /// True when the message is a response.
    pub fn is_response(&self) -> bool {
        self.flags & flags::SERVER_TO_REDIR != 0
    }

    /// True when signed.
    pub fn is_signed(&self) -> bool {
        self.flags & flags::SIGNED != 0
    }

    /// True when related to the previous message of a compound chain.
    pub fn is_related(&self) -> bool {
        self.flags & flags::RELATED_OPERATIONS != 0
    }

    /// True for the async form.
    pub fn is_async(&self) -> bool {
        self.flags & flags::ASYNC_COMMAND != 0
    }
}

/// The body of an SMB2 ERROR response (MS-SMB2 2.2.2) with no error data.
pub fn encode_error_body(out: &mut impl BufMut) {
    out.put_u16_le(9);
    out.put_u8(0); // ErrorContextCount
    out.put_u8(0);
    out.put_u32_le(0); // ByteCount
    out.put_u8(0); // ErrorData: one byte when ByteCount is 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = Header {
            credit_charge: 1,
            status: NtStatus::PENDING,
            command: Command::CREATE,
            credits: 31,
            flags: flags::SERVER_TO_REDIR | flags::SIGNED,
            next_command: 0,
            message_id: 7,
            async_id: 0,
            tree_id: 5,
            session_id: 0x1122,
            signature: [9; 16],
        };
        let mut v = Vec::new();
        h.encode(&mut v);
        assert_eq!(v.len(), HEADER_LEN);
        assert_eq!(Header::decode(&v), Ok(h));
        assert_eq!(format!("{:?}", Command::TREE_CONNECT), "TREE_CONNECT");
        assert_eq!(format!("{:?}", Dialect(0x0311)), "SMB3_1_1");
    }

    #[test]
    fn wrong_structure_size_is_refused() {
        let mut v = Vec::new();
        Header::default().encode(&mut v);
        v[4] = 65;
        assert!(matches!(
            Header::decode(&v),
            Err(DecodeError::StructureSize { .. })
        ));
        assert!(Header::decode(&v[..63]).is_err());
    }
}
