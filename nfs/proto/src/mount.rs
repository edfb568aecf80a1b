//! MOUNT version 3 (RFC 1813 appendix I).

use bytes::BufMut;

use crate::xdr::{Encode, Reader, XdrWrite};
use crate::DecodeError;

/// MOUNT program number.
pub const PROGRAM: u32 = 100005;
/// The version we serve.
pub const VERSION: u32 = 3;

/// `MNTPATHLEN`: longest path (bytes).
pub const MNTPATHLEN: u32 = 1024;
/// `MNTNAMLEN`: longest host or group name.
pub const MNTNAMLEN: u32 = 255;
/// `FHSIZE3`: longest NFSv3 file handle.
pub const FHSIZE3: u32 = 64;

wire_enum! {
    /// MOUNT v3 procedure numbers (RFC 1813 appendix I, section 5.2).
    MountProc {
        /// `MOUNTPROC3_NULL`.
        NULL = 0,
        /// `MOUNTPROC3_MNT`.
        MNT = 1,
        /// `MOUNTPROC3_DUMP`.
        DUMP = 2,
        /// `MOUNTPROC3_UMNT`.
        UMNT = 3,
        /// `MOUNTPROC3_UMNTALL`.
        UMNTALL = 4,
        /// `MOUNTPROC3_EXPORT`.
        EXPORT = 5,
    }
}

wire_enum! {
    /// `mountstat3` (RFC 1813 appendix I, section 5.1.5).
    Mountstat3 {
        /// No error.
        MNT3_OK = 0,
        /// Not owner.
        MNT3ERR_PERM = 1,
        /// No such file or directory.
        MNT3ERR_NOENT = 2,
        /// I/O error.
        MNT3ERR_IO = 5,
        /// Permission denied.
        MNT3ERR_ACCES = 13,
        /// Not a directory.
        MNT3ERR_NOTDIR = 20,
        /// Invalid argument.
        MNT3ERR_INVAL = 22,
        /// Filename too long.
        MNT3ERR_NAMETOOLONG = 63,
        /// Operation not supported.
        MNT3ERR_NOTSUPP = 10004,
        /// A failure on the server.
        MNT3ERR_SERVERFAULT = 10006,
    }
}

/// Argument of MNT and UMNT: `dirpath` (`string<MNTPATHLEN>`).
pub fn decode_dirpath(r: &mut Reader<'_>) -> Result<Vec<u8>, DecodeError> {
    Ok(r.opaque(MNTPATHLEN)?.to_vec())
}

/// `mountres3`: MNT's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MntRes {
    /// `MNT3_OK` with the root handle and the auth flavors the export accepts.
    Ok {
        /// `fhandle3` (at most [`FHSIZE3`] bytes).
        handle: Vec<u8>,
        /// `auth_flavors<>`.
        auth_flavors: Vec<u32>,
    },
    /// Any other status.
    Err(Mountstat3),
}

impl Encode for MntRes {
    fn encode<B: BufMut>(&self, out: &mut B) {
        match self {
            MntRes::Ok {
                handle,
                auth_flavors,
            } => {
                Mountstat3::MNT3_OK.encode(out);
                out.put_xdr_opaque(handle);
                out.put_u32(auth_flavors.len() as u32);
                for f in auth_flavors {
                    out.put_u32(*f);
                }
            }
            MntRes::Err(stat) => stat.encode(out),
        }
    }
}

/// One `mountbody` of DUMP's `mountlist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// `ml_hostname`.
    pub hostname: Vec<u8>,
    /// `ml_directory`.
    pub directory: Vec<u8>,
}

/// DUMP's result: `mountlist` (a linked list: `value_follows` before each entry).
pub fn encode_mountlist<B: BufMut>(entries: &[MountEntry], out: &mut B) {
    for e in entries {
        out.put_xdr_bool(true);
        out.put_xdr_opaque(&e.hostname);
        out.put_xdr_opaque(&e.directory);
    }
    out.put_xdr_bool(false);
}

/// One `exportnode` of EXPORT's `exports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportEntry {
    /// `ex_dir`.
    pub dir: Vec<u8>,
    /// `ex_groups`: client patterns allowed.
    pub groups: Vec<Vec<u8>>,
}

/// EXPORT's result: `exports` (a linked list of `exportnode`, each with a list of groups).
pub fn encode_exports<B: BufMut>(entries: &[ExportEntry], out: &mut B) {
    for e in entries {
        out.put_xdr_bool(true);
        out.put_xdr_opaque(&e.dir);
        for g in &e.groups {
            out.put_xdr_bool(true);
            out.put_xdr_opaque(g);
        }
        out.put_xdr_bool(false);
    }
    out.put_xdr_bool(false);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn dirpath_bound() {
        let mut w = Vec::new();
        w.put_xdr_opaque(&[b'a'; 1025]);
        assert!(decode_dirpath(&mut Reader::new(&w)).is_err());
        let mut w = Vec::new();
        w.put_xdr_opaque(b"/data");
        assert_eq!(decode_dirpath(&mut Reader::new(&w)).unwrap(), b"/data");
    }

    #[test]
    fn mnt_ok_encoding() {
        let mut w = Vec::new();
        MntRes::Ok {
            handle: vec![1, 2, 3],
            auth_flavors: vec![1],
        }
        .encode(&mut w);
        assert_eq!(
            w,
            [0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0, 1, 0, 0, 0, 1]
        );
    }

    #[test]
    fn exports_encoding() {
        let mut w = Vec::new();
        encode_exports(
            &[ExportEntry {
                dir: b"/d".to_vec(),
                groups: vec![b"*".to_vec()],
            }],
            &mut w,
        );
        let mut r = Reader::new(&w);
        assert!(r.bool().unwrap());
        assert_eq!(r.opaque(10).unwrap(), b"/d");
        assert!(r.bool().unwrap());
        assert_eq!(r.opaque(10).unwrap(), b"*");
        assert!(!r.bool().unwrap());
        assert!(!r.bool().unwrap());
        r.finish().unwrap();
    }
}
