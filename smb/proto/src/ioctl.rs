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
/// FSCTL_SRV_REQUEST_RESUME_KEY: a key naming an open, for server-side copy.
pub const FSCTL_SRV_REQUEST_RESUME_KEY: u32 = 0x0014_0078;
/// FSCTL_SRV_COPYCHUNK: server-side copy (target opened for read and write).
pub const FSCTL_SRV_COPYCHUNK: u32 = 0x0014_40F2;
/// FSCTL_SRV_COPYCHUNK_WRITE: server-side copy (target opened for write).
pub const FSCTL_SRV_COPYCHUNK_WRITE: u32 = 0x0014_80F2;
/// FSCTL_SET_SPARSE.
pub const FSCTL_SET_SPARSE: u32 = 0x0009_00C4;
/// FSCTL_GET_REPARSE_POINT.
pub const FSCTL_GET_REPARSE_POINT: u32 = 0x0009_00A8;
/// FSCTL_QUERY_NETWORK_INTERFACE_INFO.
pub const FSCTL_QUERY_NETWORK_INTERFACE_INFO: u32 = 0x0014_01FC;
/// FSCTL_GET_OBJECT_ID (MS-FSCC 2.3.27).
pub const FSCTL_GET_OBJECT_ID: u32 = 0x0009_009C;
/// FSCTL_CREATE_OR_GET_OBJECT_ID (MS-FSCC 2.3.7).
pub const FSCTL_CREATE_OR_GET_OBJECT_ID: u32 = 0x0009_00C0;
/// Size of FILE_OBJECTID_BUFFER (MS-FSCC 2.1.3).
pub const FILE_OBJECTID_BUFFER_LEN: usize = 64;

/// FILE_OBJECTID_BUFFER (MS-FSCC 2.1.3) for a file without a stored object id: the
/// ObjectId is derived from the file id and the filesystem id (stable while the file
/// lives), BirthVolumeId is the filesystem id, BirthObjectId the ObjectId, DomainId zero.
pub fn encode_object_id(out: &mut Vec<u8>, fileid: u64, fsid: u64) {
    let mut object_id = [0u8; 16];
    object_id[..8].copy_from_slice(&fileid.to_le_bytes());
    object_id[8..].copy_from_slice(&fsid.to_le_bytes());
    out.extend_from_slice(&object_id);
    out.extend_from_slice(&fsid.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&object_id);
    out.extend_from_slice(&[0; 16]);
}

/// MS-SMB2 3.3.3: server-side copy limits (Windows' defaults).
pub mod copychunk_limits {
    /// Server.MaxChunkCount.
    pub const MAX_CHUNK_COUNT: u32 = 256;
    /// Server.MaxChunkSize.
    pub const MAX_CHUNK_SIZE: u32 = 1024 * 1024;
    /// Server.MaxTotalBytes (per request).
    pub const MAX_TOTAL: u32 = 16 * 1024 * 1024;
}

/// One chunk of SRV_COPYCHUNK_COPY (MS-SMB2 2.2.31.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// SourceOffset.
    pub source_offset: u64,
    /// TargetOffset.
    pub target_offset: u64,
    /// Length.
    pub length: u32,
}

/// SRV_COPYCHUNK_COPY (MS-SMB2 2.2.31.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyChunkCopy {
    /// SourceKey.
    pub source_key: [u8; 24],
    /// ChunkCount (as sent; `chunks` holds at most MAX_CHUNK_COUNT + 1 of them).
    pub chunk_count: u32,
    /// Chunks.
    pub chunks: Vec<Chunk>,
}

impl CopyChunkCopy {
    /// Decodes; a count above the limit decodes only the count (the caller answers with
    /// the limits).
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let source_key = r.array::<24>()?;
        let chunk_count = r.u32()?;
        r.skip(4)?;
        let mut chunks = Vec::new();
        if chunk_count <= copychunk_limits::MAX_CHUNK_COUNT {
            for _ in 0..chunk_count {
                let source_offset = r.u64()?;
                let target_offset = r.u64()?;
                let length = r.u32()?;
                r.skip(4)?;
                chunks.push(Chunk {
                    source_offset,
                    target_offset,
                    length,
                });
            }
        }
        Ok(CopyChunkCopy {
            source_key,
            chunk_count,
            chunks,
        })
    }
}

/// SRV_COPYCHUNK_RESPONSE (MS-SMB2 2.2.32.1).
pub fn encode_copychunk_response(
    out: &mut impl BufMut,
    chunks_written: u32,
    chunk_bytes_written: u32,
    total_bytes_written: u32,
) {
    out.put_u32_le(chunks_written);
    out.put_u32_le(chunk_bytes_written);
    out.put_u32_le(total_bytes_written);
}

/// NETWORK_INTERFACE_INFO Capability bits (MS-SMB2 2.2.32.5).
pub mod interface_capability {
    /// RSS_CAPABLE.
    pub const RSS: u32 = 0x0000_0001;
    /// RDMA_CAPABLE.
    pub const RDMA: u32 = 0x0000_0002;
}

/// One NETWORK_INTERFACE_INFO (MS-SMB2 2.2.32.5): one IP address of one interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkInterfaceInfo {
    /// IfIndex (never 0, MS-SMB2 3.3.5.15.11).
    pub if_index: u32,
    /// Capability ([`interface_capability`]).
    pub capability: u32,
    /// LinkSpeed, bits per second.
    pub link_speed: u64,
    /// The address (SockAddr_Storage, port 0).
    pub addr: std::net::IpAddr,
}

/// Bytes of one encoded [`NetworkInterfaceInfo`] (already 8-byte aligned).
pub const NETWORK_INTERFACE_INFO_LEN: usize = 152;

/// Encodes the FSCTL_QUERY_NETWORK_INTERFACE_INFO output: the entries back to back, each
/// `Next` pointing to the following one, 0 on the last. SockAddr_Storage (2.2.32.5.1) is the
/// family (little-endian: 0x0002 InterNetwork, 0x0017 InterNetworkV6) then a SOCKADDR_IN or
/// SOCKADDR_IN6 whose port and address are in network byte order, zero-padded to 128 bytes.
pub fn encode_network_interfaces(out: &mut impl BufMut, list: &[NetworkInterfaceInfo]) {
    for (i, n) in list.iter().enumerate() {
        let last = i + 1 == list.len();
        out.put_u32_le(if last {
            0
        } else {
            NETWORK_INTERFACE_INFO_LEN as u32
        });
        out.put_u32_le(n.if_index);
        out.put_u32_le(n.capability);
        out.put_u32_le(0); // Reserved
        out.put_u64_le(n.link_speed);
        let used = match n.addr {
            std::net::IpAddr::V4(a) => {
                out.put_u16_le(0x0002);
                out.put_u16(0); // Port
                out.put_slice(&a.octets());
                out.put_bytes(0, 8); // Reserved
                16
            }
            std::net::IpAddr::V6(a) => {
                out.put_u16_le(0x0017);
                out.put_u16(0); // Port
                out.put_u32(0); // FlowInfo
                out.put_slice(&a.octets());
                out.put_u32(0); // ScopeId
                28
            }
        };
        out.put_bytes(0, 128 - used);
    }
}

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
        Ok(IoctlRequest {
            ctl_code,
            file_id,
            input,
            max_output,
            flags,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_id_layout() {
        let mut out = Vec::new();
        encode_object_id(&mut out, 0x1122, 0x33);
        assert_eq!(out.len(), FILE_OBJECTID_BUFFER_LEN);
        assert_eq!(&out[..8], &0x1122u64.to_le_bytes());
        assert_eq!(&out[8..16], &0x33u64.to_le_bytes());
        assert_eq!(&out[16..24], &0x33u64.to_le_bytes());
        assert_eq!(&out[32..48], &out[..16].to_vec()[..]);
        assert!(out[48..].iter().all(|&b| b == 0));
    }

    #[test]
    fn network_interfaces_layout() {
        let list = [
            NetworkInterfaceInfo {
                if_index: 1,
                capability: 0,
                link_speed: 1_000_000_000,
                addr: "127.0.0.1".parse().unwrap(),
            },
            NetworkInterfaceInfo {
                if_index: 4,
                capability: interface_capability::RSS,
                link_speed: 10_000_000_000,
                addr: "fd00::2".parse().unwrap(),
            },
        ];
        let mut out = Vec::new();
        encode_network_interfaces(&mut out, &list);
        assert_eq!(out.len(), 2 * NETWORK_INTERFACE_INFO_LEN);
        assert_eq!(out[0..4], 152u32.to_le_bytes());
        assert_eq!(out[4..8], 1u32.to_le_bytes());
        assert_eq!(out[16..24], 1_000_000_000u64.to_le_bytes());
        assert_eq!(out[24..26], [2, 0]);
        assert_eq!(out[28..32], [127, 0, 0, 1]);
        let b = &out[152..];
        assert_eq!(b[0..4], [0; 4]);
        assert_eq!(b[8..12], 1u32.to_le_bytes());
        assert_eq!(b[24..26], [0x17, 0]);
        assert_eq!(b[32..34], [0xfd, 0]);
        assert_eq!(b[47], 2);
    }
}
