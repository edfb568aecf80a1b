//! Segment files and their time/id index.
//!
//! A topic directory holds segments `<first id, 20 digits>.log`, each with a sidecar
//! `<first id>.idx`: fixed 24-byte entries `(ts i64, id u64, offset u64)` written about every
//! [`INDEX_STRIDE`] bytes of log. The index is a hint, never trusted: an entry is used only
//! when the record at its offset decodes with a good checksum and the id it names. It is not
//! synced; recovery rebuilds the index of the last segment.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes of log between two index entries.
pub const INDEX_STRIDE: u64 = 32 * 1024;
/// Size of one index entry.
pub const ENTRY: usize = 24;

/// Path of the segment starting at `first`.
pub fn log_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

/// Path of the index of the segment starting at `first`.
pub fn idx_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.idx"))
}

/// First ids of the segments in `dir`, ascending. A missing directory has none.
pub fn list(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for ent in rd {
        let name = ent?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".log") {
            if stem.len() == 20 {
                if let Ok(n) = stem.parse() {
                    out.push(n);
                }
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// One index entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Timestamp of the record at `offset`.
    pub ts: i64,
    /// Id of the record at `offset`.
    pub id: u64,
    /// Byte offset of the record in the segment.
    pub offset: u64,
}

impl IndexEntry {
    /// Encodes into 24 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.ts.to_le_bytes());
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
    }

    fn decode(b: &[u8; ENTRY]) -> IndexEntry {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[0..8]);
        let ts = i64::from_le_bytes(a);
        a.copy_from_slice(&b[8..16]);
        let id = u64::from_le_bytes(a);
        a.copy_from_slice(&b[16..24]);
        IndexEntry {
            ts,
            id,
            offset: u64::from_le_bytes(a),
        }
    }
}

/// An open index, searched by binary search with positioned reads (a lookup reads
/// ~log2(entries) × 24 bytes, counted in `bytes_read`).
pub struct Index {
    file: File,
    entries: u64,
}

impl Index {
    /// Opens the index of a segment; `None` when it is missing.
    pub fn open(dir: &Path, first: u64) -> io::Result<Option<Index>> {
        match File::open(idx_path(dir, first)) {
            Ok(file) => {
                let entries = file.metadata()?.len() / ENTRY as u64;
                Ok(Some(Index { file, entries }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Entry `i`.
    pub fn entry(&self, i: u64, bytes_read: &mut u64) -> io::Result<IndexEntry> {
        let mut b = [0u8; ENTRY];
        self.file.read_exact_at(&mut b, i * ENTRY as u64)?;
        *bytes_read += ENTRY as u64;
        Ok(IndexEntry::decode(&b))
    }

    /// The last entry for which `below(entry)` holds, given that `below` is true for a prefix
    /// of the entries (they are ordered by id and by time).
    pub fn last_where(
        &self,
        bytes_read: &mut u64,
        below: impl Fn(&IndexEntry) -> bool,
    ) -> io::Result<Option<IndexEntry>> {
        let (mut lo, mut hi) = (0u64, self.entries);
        let mut best = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = self.entry(mid, bytes_read)?;
            if below(&e) {
                best = Some(e);
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(best)
    }
}
