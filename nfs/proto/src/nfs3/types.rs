//! Types shared by many NFSv3 procedures (RFC 1813 section 2.5 and 2.6).

use bytes::BufMut;

use super::{Ftype3, FHSIZE, MAX_NAME};
use crate::xdr::{Decode, Encode, Reader, XdrWrite};
use crate::DecodeError;

/// `nfs_fh3`: an opaque handle of at most 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NfsFh3(pub Vec<u8>);

impl Decode for NfsFh3 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(NfsFh3(r.opaque(FHSIZE)?.to_vec()))
    }
}

impl Encode for NfsFh3 {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_xdr_opaque(&self.0);
    }
}

/// `nfstime3`: seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nfstime3 {
    /// `seconds`.
    pub seconds: u32,
    /// `nseconds`.
    pub nseconds: u32,
}

impl Decode for Nfstime3 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Nfstime3 {
            seconds: r.u32()?,
            nseconds: r.u32()?,
        })
    }
}

impl Encode for Nfstime3 {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_u32(self.seconds);
        out.put_u32(self.nseconds);
    }
}

/// `specdata3`: device numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Specdata3 {
    /// `specdata1` (major).
    pub major: u32,
    /// `specdata2` (minor).
    pub minor: u32,
}

impl Decode for Specdata3 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Specdata3 {
            major: r.u32()?,
            minor: r.u32()?,
        })
    }
}

/// `fattr3` (RFC 1813 section 2.6): 84 bytes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fattr3 {
    /// `type`.
    pub ftype: Ftype3,
    /// `mode`.
    pub mode: u32,
    /// `nlink`.
    pub nlink: u32,
    /// `uid`.
    pub uid: u32,
    /// `gid`.
    pub gid: u32,
    /// `size`.
    pub size: u64,
    /// `used`.
    pub used: u64,
    /// `rdev`.
    pub rdev: Specdata3,
    /// `fsid`.
    pub fsid: u64,
    /// `fileid`.
    pub fileid: u64,
    /// `atime`.
    pub atime: Nfstime3,
    /// `mtime`.
    pub mtime: Nfstime3,
    /// `ctime`.
    pub ctime: Nfstime3,
}

/// Encoded size of `fattr3`.
pub const FATTR3_SIZE: usize = 84;

impl Encode for Fattr3 {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.ftype.encode(out);
        out.put_u32(self.mode);
        out.put_u32(self.nlink);
        out.put_u32(self.uid);
        out.put_u32(self.gid);
        out.put_u64(self.size);
        out.put_u64(self.used);
        out.put_u32(self.rdev.major);
        out.put_u32(self.rdev.minor);
        out.put_u64(self.fsid);
        out.put_u64(self.fileid);
        self.atime.encode(out);
        self.mtime.encode(out);
        self.ctime.encode(out);
    }
}

impl Decode for Fattr3 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Fattr3 {
            ftype: Ftype3::decode(r)?,
            mode: r.u32()?,
            nlink: r.u32()?,
            uid: r.u32()?,
            gid: r.u32()?,
            size: r.u64()?,
            used: r.u64()?,
            rdev: Specdata3::decode(r)?,
            fsid: r.u64()?,
            fileid: r.u64()?,
            atime: Nfstime3::decode(r)?,
            mtime: Nfstime3::decode(r)?,
            ctime: Nfstime3::decode(r)?,
        })
    }
}

/// `post_op_attr`: attributes when the server has them.
pub type PostOpAttr = Option<Fattr3>;

/// `post_op_fh3`: a handle when the server returns one.
pub type PostOpFh3 = Option<NfsFh3>;

/// `wcc_attr`: the attributes clients use to check their cache before an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WccAttr {
    /// `size`.
    pub size: u64,
    /// `mtime`.
    pub mtime: Nfstime3,
    /// `ctime`.
    pub ctime: Nfstime3,
}

impl Encode for WccAttr {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_u64(self.size);
        self.mtime.encode(out);
        self.ctime.encode(out);
    }
}

/// `wcc_data`: `pre_op_attr before; post_op_attr after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WccData {
    /// `before`.
    pub before: Option<WccAttr>,
    /// `after`.
    pub after: PostOpAttr,
}

impl Encode for WccData {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.before.encode(out);
        self.after.encode(out);
    }
}

/// `time_how` and its time (`set_atime` / `set_mtime`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SetTime3 {
    /// `DONT_CHANGE`.
    #[default]
    DontChange,
    /// `SET_TO_SERVER_TIME`.
    ServerTime,
    /// `SET_TO_CLIENT_TIME` with the time.
    ClientTime(Nfstime3),
}

impl Decode for SetTime3 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u32()? {
            0 => Ok(SetTime3::DontChange),
            1 => Ok(SetTime3::ServerTime),
            2 => Ok(SetTime3::ClientTime(Nfstime3::decode(r)?)),
            v => Err(DecodeError::Invalid {
                what: "time_how",
                value: v,
            }),
        }
    }
}

/// `sattr3`: attributes to set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sattr3 {
    /// `set_mode3`.
    pub mode: Option<u32>,
    /// `set_uid3`.
    pub uid: Option<u32>,
    /// `set_gid3`.
    pub gid: Option<u32>,
    /// `set_size3`.
    pub size: Option<u64>,
    /// `set_atime`.
    pub atime: SetTime3,
    /// `set_mtime`.
    pub mtime: SetTime3,
}

impl Decode for Sattr3 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Sattr3 {
            mode: r.optional()?,
            uid: r.optional()?,
            gid: r.optional()?,
            size: r.optional()?,
            atime: SetTime3::decode(r)?,
            mtime: SetTime3::decode(r)?,
        })
    }
}

/// `diropargs3`: a directory and a name in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diropargs3 {
    /// `dir`.
    pub dir: NfsFh3,
    /// `name` (`filename3`).
    pub name: Vec<u8>,
}

impl Decode for Diropargs3 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Diropargs3 {
            dir: NfsFh3::decode(r)?,
            name: r.opaque(MAX_NAME)?.to_vec(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn fattr3_is_84_bytes_and_round_trips() {
        let a = Fattr3 {
            ftype: Ftype3::NF3REG,
            mode: 0o644,
            nlink: 1,
            uid: 1,
            gid: 2,
            size: 3,
            used: 4,
            rdev: Specdata3 { major: 5, minor: 6 },
            fsid: 7,
            fileid: 8,
            atime: Nfstime3 {
                seconds: 9,
                nseconds: 10,
            },
            mtime: Nfstime3 {
                seconds: 11,
                nseconds: 12,
            },
            ctime: Nfstime3 {
                seconds: 13,
                nseconds: 14,
            },
        };
        let mut w = Vec::new();
        a.encode(&mut w);
        assert_eq!(w.len(), FATTR3_SIZE);
        assert_eq!(Fattr3::decode_all(&w).unwrap(), a);
    }

    #[test]
    fn sattr3_decodes_all_arms() {
        let mut w = Vec::new();
        for v in [1u32, 0o755, 0, 1, 7] {
            w.put_u32(v);
        }
        w.put_u32(1);
        w.put_u64(99);
        w.put_u32(1);
        w.put_u32(2);
        w.put_u32(5);
        w.put_u32(6);
        let s = Sattr3::decode_all(&w).unwrap();
        assert_eq!(s.mode, Some(0o755));
        assert_eq!(s.uid, None);
        assert_eq!(s.gid, Some(7));
        assert_eq!(s.size, Some(99));
        assert_eq!(s.atime, SetTime3::ServerTime);
        assert_eq!(
            s.mtime,
            SetTime3::ClientTime(Nfstime3 {
                seconds: 5,
                nseconds: 6
            })
        );
    }

    #[test]
    fn oversized_handle_is_rejected() {
        let mut w = Vec::new();
        w.put_xdr_opaque(&[0; 65]);
        assert!(matches!(
            NfsFh3::decode_all(&w),
            Err(DecodeError::TooLong { .. })
        ));
    }
}
