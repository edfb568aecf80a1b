//! NFSv3 procedure arguments (RFC 1813 section 3.3), one decoder each, and [`Args`] that
//! picks the decoder by procedure number.

use super::types::{Diropargs3, NfsFh3, Nfstime3, Sattr3, Specdata3};
use super::{Ftype3, NfsProc, StableHow, COOKIEVERFSIZE, CREATEVERFSIZE, MAX_IO, MAX_PATH};
use crate::xdr::{Decode, Reader};
use crate::DecodeError;

fn verf8(r: &mut Reader<'_>) -> Result<[u8; 8], DecodeError> {
    let b = r.fixed(8)?;
    let mut v = [0u8; 8];
    v.copy_from_slice(b);
    Ok(v)
}

/// SETATTR3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetattrArgs {
    /// `object`.
    pub object: NfsFh3,
    /// `new_attributes`.
    pub new_attributes: Sattr3,
    /// `guard`: when present, the object's ctime must equal it (else `NFS3ERR_NOT_SYNC`).
    pub guard: Option<Nfstime3>,
}

/// ACCESS3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessArgs {
    /// `object`.
    pub object: NfsFh3,
    /// `access` bits asked for.
    pub access: u32,
}

/// READ3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadArgs {
    /// `file`.
    pub file: NfsFh3,
    /// `offset`.
    pub offset: u64,
    /// `count` (the server may return less).
    pub count: u32,
}

/// WRITE3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteArgs {
    /// `file`.
    pub file: NfsFh3,
    /// `offset`.
    pub offset: u64,
    /// `count`.
    pub count: u32,
    /// `stable`.
    pub stable: StableHow,
    /// `data` (at most [`MAX_IO`] bytes): a slice of the received record when decoded with
    /// [`Reader::new_shared`].
    pub data: bytes::Bytes,
}

/// `createhow3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateHow3 {
    /// `UNCHECKED`.
    Unchecked(Sattr3),
    /// `GUARDED`.
    Guarded(Sattr3),
    /// `EXCLUSIVE` with its `createverf3`.
    Exclusive([u8; CREATEVERFSIZE]),
}

/// CREATE3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateArgs {
    /// `where`.
    pub whereto: Diropargs3,
    /// `how`.
    pub how: CreateHow3,
}

/// MKDIR3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MkdirArgs {
    /// `where`.
    pub whereto: Diropargs3,
    /// `attributes`.
    pub attributes: Sattr3,
}

/// SYMLINK3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymlinkArgs {
    /// `where`.
    pub whereto: Diropargs3,
    /// `symlink.symlink_attributes`.
    pub attributes: Sattr3,
    /// `symlink.symlink_data`.
    pub target: Vec<u8>,
}

/// MKNOD3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MknodArgs {
    /// `where`.
    pub whereto: Diropargs3,
    /// `what.type`.
    pub ftype: Ftype3,
    /// Attributes (absent for types without any: REG, DIR, LNK are invalid for MKNOD).
    pub attributes: Sattr3,
    /// `spec` for CHR and BLK.
    pub spec: Specdata3,
}

/// RENAME3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameArgs {
    /// `from`.
    pub from: Diropargs3,
    /// `to`.
    pub to: Diropargs3,
}

/// LINK3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkArgs {
    /// `file`.
    pub file: NfsFh3,
    /// `link`.
    pub link: Diropargs3,
}

/// READDIR3args and READDIRPLUS3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaddirArgs {
    /// `dir`.
    pub dir: NfsFh3,
    /// `cookie`.
    pub cookie: u64,
    /// `cookieverf`.
    pub cookieverf: [u8; COOKIEVERFSIZE],
    /// READDIR: `count`; READDIRPLUS: `dircount` (bytes of names + cookies + fileids).
    pub dircount: u32,
    /// READDIR: `count`; READDIRPLUS: `maxcount` (size of the whole reply).
    pub maxcount: u32,
}

/// COMMIT3args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitArgs {
    /// `file`.
    pub file: NfsFh3,
    /// `offset`.
    pub offset: u64,
    /// `count`.
    pub count: u32,
}

/// The arguments of any NFSv3 procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// NULL.
    Null,
    /// GETATTR.
    Getattr(NfsFh3),
    /// SETATTR.
    Setattr(SetattrArgs),
    /// LOOKUP.
    Lookup(Diropargs3),
    /// ACCESS.
    Access(AccessArgs),
    /// READLINK.
    Readlink(NfsFh3),
    /// READ.
    Read(ReadArgs),
    /// WRITE.
    Write(WriteArgs),
    /// CREATE.
    Create(CreateArgs),
    /// MKDIR.
    Mkdir(MkdirArgs),
    /// SYMLINK.
    Symlink(SymlinkArgs),
    /// MKNOD.
    Mknod(MknodArgs),
    /// REMOVE.
    Remove(Diropargs3),
    /// RMDIR.
    Rmdir(Diropargs3),
    /// RENAME.
    Rename(RenameArgs),
    /// LINK.
    Link(LinkArgs),
    /// READDIR.
    Readdir(ReaddirArgs),
    /// READDIRPLUS.
    Readdirplus(ReaddirArgs),
    /// FSSTAT.
    Fsstat(NfsFh3),
    /// FSINFO.
    Fsinfo(NfsFh3),
    /// PATHCONF.
    Pathconf(NfsFh3),
    /// COMMIT.
    Commit(CommitArgs),
}

impl Args {
    /// Decodes the arguments of procedure `proc_`; `Ok(None)` for an unknown procedure
    /// (`PROC_UNAVAIL`), `Err` for malformed arguments (`GARBAGE_ARGS`). Trailing bytes are
    /// tolerated (some clients pad), as RPC servers customarily do.
    pub fn decode(proc_: NfsProc, r: &mut Reader<'_>) -> Result<Option<Args>, DecodeError> {
        let args = match proc_ {
            NfsProc::NULL => Args::Null,
            NfsProc::GETATTR => Args::Getattr(NfsFh3::decode(r)?),
            NfsProc::SETATTR => Args::Setattr(SetattrArgs {
                object: NfsFh3::decode(r)?,
                new_attributes: Sattr3::decode(r)?,
                guard: r.optional()?,
            }),
            NfsProc::LOOKUP => Args::Lookup(Diropargs3::decode(r)?),
            NfsProc::ACCESS => Args::Access(AccessArgs {
                object: NfsFh3::decode(r)?,
                access: r.u32()?,
            }),
            NfsProc::READLINK => Args::Readlink(NfsFh3::decode(r)?),
            NfsProc::READ => Args::Read(ReadArgs {
                file: NfsFh3::decode(r)?,
                offset: r.u64()?,
                count: r.u32()?,
            }),
            NfsProc::WRITE => {
                let file = NfsFh3::decode(r)?;
                let offset = r.u64()?;
                let count = r.u32()?;
                let stable = StableHow::decode(r)?;
                if stable.name().is_none() {
                    return Err(DecodeError::Invalid {
                        what: "stable_how",
                        value: stable.0,
                    });
                }
                let data = r.opaque_bytes(MAX_IO)?;
                Args::Write(WriteArgs {
                    file,
                    offset,
                    count,
                    stable,
                    data,
                })
            }
            NfsProc::CREATE => {
                let whereto = Diropargs3::decode(r)?;
                let how = match r.u32()? {
                    0 => CreateHow3::Unchecked(Sattr3::decode(r)?),
                    1 => CreateHow3::Guarded(Sattr3::decode(r)?),
                    2 => CreateHow3::Exclusive(verf8(r)?),
                    v => {
                        return Err(DecodeError::Invalid {
                            what: "createmode3",
                            value: v,
                        })
                    }
                };
                Args::Create(CreateArgs { whereto, how })
            }
            NfsProc::MKDIR => Args::Mkdir(MkdirArgs {
                whereto: Diropargs3::decode(r)?,
                attributes: Sattr3::decode(r)?,
            }),
            NfsProc::SYMLINK => Args::Symlink(SymlinkArgs {
                whereto: Diropargs3::decode(r)?,
                attributes: Sattr3::decode(r)?,
                target: r.opaque(MAX_PATH)?.to_vec(),
            }),
            NfsProc::MKNOD => {
                let whereto = Diropargs3::decode(r)?;
                let ftype = Ftype3::decode(r)?;
                let (attributes, spec) = match ftype {
                    Ftype3::NF3CHR | Ftype3::NF3BLK => (Sattr3::decode(r)?, Specdata3::decode(r)?),
                    Ftype3::NF3SOCK | Ftype3::NF3FIFO => (Sattr3::decode(r)?, Specdata3::default()),
                    _ => (Sattr3::default(), Specdata3::default()),
                };
                Args::Mknod(MknodArgs {
                    whereto,
                    ftype,
                    attributes,
                    spec,
                })
            }
            NfsProc::REMOVE => Args::Remove(Diropargs3::decode(r)?),
            NfsProc::RMDIR => Args::Rmdir(Diropargs3::decode(r)?),
            NfsProc::RENAME => Args::Rename(RenameArgs {
                from: Diropargs3::decode(r)?,
                to: Diropargs3::decode(r)?,
            }),
            NfsProc::LINK => Args::Link(LinkArgs {
                file: NfsFh3::decode(r)?,
                link: Diropargs3::decode(r)?,
            }),
            NfsProc::READDIR => {
                let dir = NfsFh3::decode(r)?;
                let cookie = r.u64()?;
                let cookieverf = verf8(r)?;
                let count = r.u32()?;
                Args::Readdir(ReaddirArgs {
                    dir,
                    cookie,
                    cookieverf,
                    dircount: count,
                    maxcount: count,
                })
            }
            NfsProc::READDIRPLUS => Args::Readdirplus(ReaddirArgs {
                dir: NfsFh3::decode(r)?,
                cookie: r.u64()?,
                cookieverf: verf8(r)?,
                dircount: r.u32()?,
                maxcount: r.u32()?,
            }),
            NfsProc::FSSTAT => Args::Fsstat(NfsFh3::decode(r)?),
            NfsProc::FSINFO => Args::Fsinfo(NfsFh3::decode(r)?),
            NfsProc::PATHCONF => Args::Pathconf(NfsFh3::decode(r)?),
            NfsProc::COMMIT => Args::Commit(CommitArgs {
                file: NfsFh3::decode(r)?,
                offset: r.u64()?,
                count: r.u32()?,
            }),
            _ => return Ok(None),
        };
        Ok(Some(args))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::xdr::XdrWrite;
    use bytes::BufMut;

    fn fh(w: &mut Vec<u8>) {
        w.put_xdr_opaque(&[0xab; 16]);
    }

    #[test]
    fn write_args_decode_and_data_bound() {
        let mut w = Vec::new();
        fh(&mut w);
        w.put_u64(10);
        w.put_u32(3);
        w.put_u32(2);
        w.put_xdr_opaque(b"abc");
        let got = Args::decode(NfsProc::WRITE, &mut Reader::new(&w))
            .unwrap()
            .unwrap();
        let Args::Write(a) = got else { panic!() };
        assert_eq!(
            (a.offset, a.count, a.stable, &a.data[..]),
            (10, 3, StableHow::FILE_SYNC, &b"abc"[..])
        );

        let mut w = Vec::new();
        fh(&mut w);
        w.put_u64(0);
        w.put_u32(0);
        w.put_u32(0);
        w.put_u32(MAX_IO + 1);
        assert!(matches!(
            Args::decode(NfsProc::WRITE, &mut Reader::new(&w)),
            Err(DecodeError::TooLong { .. })
        ));
    }

    #[test]
    fn create_exclusive_carries_verifier() {
        let mut w = Vec::new();
        fh(&mut w);
        w.put_xdr_opaque(b"f");
        w.put_u32(2);
        w.put_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let Some(Args::Create(c)) = Args::decode(NfsProc::CREATE, &mut Reader::new(&w)).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.how, CreateHow3::Exclusive([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(c.whereto.name, b"f");
    }

    #[test]
    fn every_truncation_of_readdirplus_is_an_error() {
        let mut w = Vec::new();
        fh(&mut w);
        w.put_u64(5);
        w.put_slice(&[0; 8]);
        w.put_u32(4096);
        w.put_u32(65536);
        for cut in 0..w.len() {
            assert!(Args::decode(NfsProc::READDIRPLUS, &mut Reader::new(&w[..cut])).is_err());
        }
        assert!(Args::decode(NfsProc::READDIRPLUS, &mut Reader::new(&w))
            .unwrap()
            .is_some());
    }

    #[test]
    fn unknown_procedure_is_none() {
        assert_eq!(
            Args::decode(NfsProc(22), &mut Reader::new(&[])).unwrap(),
            None
        );
    }
}
