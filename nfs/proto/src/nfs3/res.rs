//! NFSv3 procedure results (RFC 1813 section 3.3). Every `*3res` is a union on `nfsstat3`:
//! [`Reply`] holds the `NFS3_OK` arm or a failure status with the failure arm.

use bytes::BufMut;

use super::types::{Fattr3, NfsFh3, Nfstime3, PostOpAttr, PostOpFh3, WccData, FATTR3_SIZE};
use super::{Nfsstat3, StableHow, COOKIEVERFSIZE, WRITEVERFSIZE};
use crate::xdr::{opaque_size, Encode, XdrWrite};

/// A procedure result: `NFS3_OK` with `T`, or a failure status with `F`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T, F> {
    /// `resok`.
    Ok(T),
    /// `resfail` with its status (never `NFS3_OK`).
    Fail(Nfsstat3, F),
}

impl<T: Encode, F: Encode> Encode for Reply<T, F> {
    fn encode<B: BufMut>(&self, out: &mut B) {
        match self {
            Reply::Ok(ok) => {
                Nfsstat3::NFS3_OK.encode(out);
                ok.encode(out);
            }
            Reply::Fail(status, fail) => {
                status.encode(out);
                fail.encode(out);
            }
        }
    }
}

/// An empty arm (`void`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Void;

impl Encode for Void {
    fn encode<B: BufMut>(&self, _out: &mut B) {}
}

/// GETATTR3res.
pub type GetattrRes = Reply<Fattr3, Void>;
/// SETATTR3res (`wcc_data` in both arms).
pub type SetattrRes = Reply<WccData, WccData>;
/// REMOVE3res / RMDIR3res.
pub type RemoveRes = Reply<WccData, WccData>;

/// LOOKUP3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupOk {
    /// `object`.
    pub object: NfsFh3,
    /// `obj_attributes`.
    pub obj_attributes: PostOpAttr,
    /// `dir_attributes`.
    pub dir_attributes: PostOpAttr,
}

impl Encode for LookupOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.object.encode(out);
        self.obj_attributes.encode(out);
        self.dir_attributes.encode(out);
    }
}

/// LOOKUP3res (failure arm: `dir_attributes`).
pub type LookupRes = Reply<LookupOk, PostOpAttr>;

/// ACCESS3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessOk {
    /// `obj_attributes`.
    pub obj_attributes: PostOpAttr,
    /// `access`: the bits granted.
    pub access: u32,
}

impl Encode for AccessOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.obj_attributes.encode(out);
        out.put_u32(self.access);
    }
}

/// ACCESS3res.
pub type AccessRes = Reply<AccessOk, PostOpAttr>;

/// READLINK3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadlinkOk {
    /// `symlink_attributes`.
    pub symlink_attributes: PostOpAttr,
    /// `data`.
    pub data: Vec<u8>,
}

impl Encode for ReadlinkOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.symlink_attributes.encode(out);
        out.put_xdr_opaque(&self.data);
    }
}

/// READLINK3res.
pub type ReadlinkRes = Reply<ReadlinkOk, PostOpAttr>;

/// READ3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOk {
    /// `file_attributes`.
    pub file_attributes: PostOpAttr,
    /// `eof`.
    pub eof: bool,
    /// `data` (`count` is its length).
    pub data: Vec<u8>,
}

impl Encode for ReadOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.encode_head(out);
        out.put_slice(&self.data);
        out.put_bytes(0, xdr_padding(self.data.len()));
    }
}

impl ReadOk {
    /// Everything before the data bytes (attributes, `count`, `eof`, the opaque's length), for
    /// a server that sends the data itself without copying it; [`xdr_padding`] bytes of zeros
    /// follow the data.
    pub fn encode_head<B: BufMut>(&self, out: &mut B) {
        self.file_attributes.encode(out);
        out.put_u32(self.data.len() as u32);
        out.put_xdr_bool(self.eof);
        out.put_u32(u32::try_from(self.data.len()).unwrap_or(u32::MAX));
    }
}

/// Zero bytes that pad an opaque of `len` bytes to a multiple of four (RFC 4506 4.10).
pub fn xdr_padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// READ3res.
pub type ReadRes = Reply<ReadOk, PostOpAttr>;

/// WRITE3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOk {
    /// `file_wcc`.
    pub file_wcc: WccData,
    /// `count`.
    pub count: u32,
    /// `committed`.
    pub committed: StableHow,
    /// `verf`.
    pub verf: [u8; WRITEVERFSIZE],
}

impl Encode for WriteOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.file_wcc.encode(out);
        out.put_u32(self.count);
        self.committed.encode(out);
        out.put_slice(&self.verf);
    }
}

/// WRITE3res.
pub type WriteRes = Reply<WriteOk, WccData>;

/// CREATE3resok, MKDIR3resok, SYMLINK3resok, MKNOD3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOk {
    /// `obj`.
    pub obj: PostOpFh3,
    /// `obj_attributes`.
    pub obj_attributes: PostOpAttr,
    /// `dir_wcc`.
    pub dir_wcc: WccData,
}

impl Encode for CreateOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.obj.encode(out);
        self.obj_attributes.encode(out);
        self.dir_wcc.encode(out);
    }
}

/// CREATE3res / MKDIR3res / SYMLINK3res / MKNOD3res (failure arm: `dir_wcc`).
pub type CreateRes = Reply<CreateOk, WccData>;

/// RENAME3resok and RENAME3resfail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenameWcc {
    /// `fromdir_wcc`.
    pub fromdir_wcc: WccData,
    /// `todir_wcc`.
    pub todir_wcc: WccData,
}

impl Encode for RenameWcc {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.fromdir_wcc.encode(out);
        self.todir_wcc.encode(out);
    }
}

/// RENAME3res.
pub type RenameRes = Reply<RenameWcc, RenameWcc>;

/// LINK3resok and LINK3resfail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkWcc {
    /// `file_attributes`.
    pub file_attributes: PostOpAttr,
    /// `linkdir_wcc`.
    pub linkdir_wcc: WccData,
}

impl Encode for LinkWcc {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.file_attributes.encode(out);
        self.linkdir_wcc.encode(out);
    }
}

/// LINK3res.
pub type LinkRes = Reply<LinkWcc, LinkWcc>;

/// `entry3` of READDIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry3 {
    /// `fileid`.
    pub fileid: u64,
    /// `name`.
    pub name: Vec<u8>,
    /// `cookie`.
    pub cookie: u64,
}

impl Entry3 {
    /// Bytes this entry takes in the reply, including its `value_follows` flag.
    pub fn encoded_size(&self) -> usize {
        4 + 8 + opaque_size(self.name.len()) + 8
    }
}

/// `entryplus3` of READDIRPLUS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entryplus3 {
    /// `fileid`.
    pub fileid: u64,
    /// `name`.
    pub name: Vec<u8>,
    /// `cookie`.
    pub cookie: u64,
    /// `name_attributes`.
    pub name_attributes: PostOpAttr,
    /// `name_handle`.
    pub name_handle: PostOpFh3,
}

impl Entryplus3 {
    /// Bytes counted against READDIRPLUS `dircount` (fileid, name, cookie; RFC 1813 3.3.17).
    pub fn dircount_size(&self) -> usize {
        8 + opaque_size(self.name.len()) + 8
    }

    /// Bytes this entry takes in the reply (counted against `maxcount`).
    pub fn encoded_size(&self) -> usize {
        4 + self.dircount_size()
            + 4
            + self.name_attributes.as_ref().map_or(0, |_| FATTR3_SIZE)
            + 4
            + self
                .name_handle
                .as_ref()
                .map_or(0, |h| opaque_size(h.0.len()))
    }
}

/// Bytes of a READDIR / READDIRPLUS reply besides its entries, counting the RPC reply header
/// (24 bytes with an `AUTH_NONE` verifier): status, `post_op_attr`, cookie verifier, the
/// list's final `value_follows` and `eof`.
pub const READDIR_OVERHEAD: usize = 24 + 4 + 4 + FATTR3_SIZE + COOKIEVERFSIZE + 4 + 4;

/// READDIR3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaddirOk {
    /// `dir_attributes`.
    pub dir_attributes: PostOpAttr,
    /// `cookieverf`.
    pub cookieverf: [u8; COOKIEVERFSIZE],
    /// `reply.entries`.
    pub entries: Vec<Entry3>,
    /// `reply.eof`.
    pub eof: bool,
}

impl Encode for ReaddirOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.dir_attributes.encode(out);
        out.put_slice(&self.cookieverf);
        for e in &self.entries {
            out.put_xdr_bool(true);
            out.put_u64(e.fileid);
            out.put_xdr_opaque(&e.name);
            out.put_u64(e.cookie);
        }
        out.put_xdr_bool(false);
        out.put_xdr_bool(self.eof);
    }
}

/// READDIR3res.
pub type ReaddirRes = Reply<ReaddirOk, PostOpAttr>;

/// READDIRPLUS3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaddirplusOk {
    /// `dir_attributes`.
    pub dir_attributes: PostOpAttr,
    /// `cookieverf`.
    pub cookieverf: [u8; COOKIEVERFSIZE],
    /// `reply.entries`.
    pub entries: Vec<Entryplus3>,
    /// `reply.eof`.
    pub eof: bool,
}

impl Encode for ReaddirplusOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.dir_attributes.encode(out);
        out.put_slice(&self.cookieverf);
        for e in &self.entries {
            out.put_xdr_bool(true);
            out.put_u64(e.fileid);
            out.put_xdr_opaque(&e.name);
            out.put_u64(e.cookie);
            e.name_attributes.encode(out);
            e.name_handle.encode(out);
        }
        out.put_xdr_bool(false);
        out.put_xdr_bool(self.eof);
    }
}

/// READDIRPLUS3res.
pub type ReaddirplusRes = Reply<ReaddirplusOk, PostOpAttr>;

/// FSSTAT3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsstatOk {
    /// `obj_attributes`.
    pub obj_attributes: PostOpAttr,
    /// `tbytes`.
    pub tbytes: u64,
    /// `fbytes`.
    pub fbytes: u64,
    /// `abytes`.
    pub abytes: u64,
    /// `tfiles`.
    pub tfiles: u64,
    /// `ffiles`.
    pub ffiles: u64,
    /// `afiles`.
    pub afiles: u64,
    /// `invarsec`.
    pub invarsec: u32,
}

impl Encode for FsstatOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.obj_attributes.encode(out);
        for v in [
            self.tbytes,
            self.fbytes,
            self.abytes,
            self.tfiles,
            self.ffiles,
            self.afiles,
        ] {
            out.put_u64(v);
        }
        out.put_u32(self.invarsec);
    }
}

/// FSSTAT3res.
pub type FsstatRes = Reply<FsstatOk, PostOpAttr>;

/// FSINFO3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsinfoOk {
    /// `obj_attributes`.
    pub obj_attributes: PostOpAttr,
    /// `rtmax`.
    pub rtmax: u32,
    /// `rtpref`.
    pub rtpref: u32,
    /// `rtmult`.
    pub rtmult: u32,
    /// `wtmax`.
    pub wtmax: u32,
    /// `wtpref`.
    pub wtpref: u32,
    /// `wtmult`.
    pub wtmult: u32,
    /// `dtpref`.
    pub dtpref: u32,
    /// `maxfilesize`.
    pub maxfilesize: u64,
    /// `time_delta`.
    pub time_delta: Nfstime3,
    /// `properties` (`FSF3_*`).
    pub properties: u32,
}

impl Encode for FsinfoOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.obj_attributes.encode(out);
        for v in [
            self.rtmax,
            self.rtpref,
            self.rtmult,
            self.wtmax,
            self.wtpref,
            self.wtmult,
            self.dtpref,
        ] {
            out.put_u32(v);
        }
        out.put_u64(self.maxfilesize);
        self.time_delta.encode(out);
        out.put_u32(self.properties);
    }
}

/// FSINFO3res.
pub type FsinfoRes = Reply<FsinfoOk, PostOpAttr>;

/// PATHCONF3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathconfOk {
    /// `obj_attributes`.
    pub obj_attributes: PostOpAttr,
    /// `linkmax`.
    pub linkmax: u32,
    /// `name_max`.
    pub name_max: u32,
    /// `no_trunc`.
    pub no_trunc: bool,
    /// `chown_restricted`.
    pub chown_restricted: bool,
    /// `case_insensitive`.
    pub case_insensitive: bool,
    /// `case_preserving`.
    pub case_preserving: bool,
}

impl Encode for PathconfOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.obj_attributes.encode(out);
        out.put_u32(self.linkmax);
        out.put_u32(self.name_max);
        for b in [
            self.no_trunc,
            self.chown_restricted,
            self.case_insensitive,
            self.case_preserving,
        ] {
            out.put_xdr_bool(b);
        }
    }
}

/// PATHCONF3res.
pub type PathconfRes = Reply<PathconfOk, PostOpAttr>;

/// COMMIT3resok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOk {
    /// `file_wcc`.
    pub file_wcc: WccData,
    /// `verf`.
    pub verf: [u8; WRITEVERFSIZE],
}

impl Encode for CommitOk {
    fn encode<B: BufMut>(&self, out: &mut B) {
        self.file_wcc.encode(out);
        out.put_slice(&self.verf);
    }
}

/// COMMIT3res.
pub type CommitRes = Reply<CommitOk, WccData>;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::xdr::Reader;

    #[test]
    fn readdir_entry_sizes_match_encoding() {
        let entries = vec![
            Entry3 {
                fileid: 1,
                name: b".".to_vec(),
                cookie: 1,
            },
            Entry3 {
                fileid: 2,
                name: b"hello.txt".to_vec(),
                cookie: 2,
            },
        ];
        let ok = ReaddirOk {
            dir_attributes: None,
            cookieverf: [0; 8],
            entries: entries.clone(),
            eof: true,
        };
        let mut w = Vec::new();
        ok.encode(&mut w);
        let expected: usize =
            4 + 8 + entries.iter().map(Entry3::encoded_size).sum::<usize>() + 4 + 4;
        assert_eq!(w.len(), expected);
    }

    #[test]
    fn entryplus_size_matches_encoding() {
        let e = Entryplus3 {
            fileid: 1,
            name: b"abcde".to_vec(),
            cookie: 9,
            name_attributes: None,
            name_handle: Some(NfsFh3(vec![0; 24])),
        };
        let ok = ReaddirplusOk {
            dir_attributes: None,
            cookieverf: [0; 8],
            entries: vec![e.clone()],
            eof: false,
        };
        let mut w = Vec::new();
        ok.encode(&mut w);
        assert_eq!(w.len(), 4 + 8 + e.encoded_size() + 8);
    }

    #[test]
    fn failure_arm_encodes_status_then_fail_data() {
        let r: LookupRes = Reply::Fail(Nfsstat3::NFS3ERR_NOENT, None);
        let mut w = Vec::new();
        r.encode(&mut w);
        let mut rd = Reader::new(&w);
        assert_eq!(rd.u32().unwrap(), 2);
        assert!(!rd.bool().unwrap());
        rd.finish().unwrap();
    }

    #[test]
    fn write_ok_layout() {
        let r: WriteRes = Reply::Ok(WriteOk {
            file_wcc: WccData::default(),
            count: 5,
            committed: StableHow::UNSTABLE,
            verf: [9; 8],
        });
        let mut w = Vec::new();
        r.encode(&mut w);
        assert_eq!(w.len(), 4 + 8 + 4 + 4 + 8);
        assert_eq!(&w[w.len() - 8..], &[9; 8]);
    }
}
