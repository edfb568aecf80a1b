//! Appending to one topic's log: recovery at open, batches written with one `write` and made
//! durable with one `fdatasync` (group commit), rotation by size, retention by age.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::reader::LogReader;
use super::record::{self, Decoded};
use super::segment::{self, IndexEntry, INDEX_STRIDE};

/// What recovery found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// Id of the last valid record (0 = empty log).
    pub last_id: u64,
    /// Its timestamp.
    pub last_ts: i64,
    /// Bytes cut from a torn tail.
    pub truncated: u64,
}

/// Appends records to one topic directory.
pub struct LogWriter {
    dir: PathBuf,
    segment_bytes: u64,
    first: u64,
    file: File,
    idx: File,
    len: u64,
    last_index_at: Option<u64>,
    buf: Vec<u8>,
    idx_buf: Vec<u8>,
    dirty: bool,
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl LogWriter {
    /// Opens (creating) the log in `dir`, recovering the last segment: a torn or corrupt tail
    /// is truncated (when no valid record follows the damage) and its index rebuilt.
    pub fn open(dir: &Path, segment_bytes: u64) -> io::Result<(LogWriter, Recovery)> {
        fs::create_dir_all(dir)?;
        let segs = segment::list(dir)?;
        let mut rec = Recovery::default();
        let first = match segs.last() {
            Some(&f) => f,
            None => 1,
        };
        let path = segment::log_path(dir, first);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let data = fs::read(&path)?;
        // Scan the tail segment; rebuild its index.
        let mut at = 0usize;
        let mut valid_end = 0usize;
        let mut idx_buf = Vec::new();
        let mut last_index_at: Option<u64> = None;
        while at < data.len() {
            match record::decode(&data[at..]) {
                Decoded::Ok(r, n) => {
                    if !matches!(last_index_at, Some(l) if at as u64 - l < INDEX_STRIDE) {
                        IndexEntry {
                            ts: r.ts,
                            id: r.id,
                            offset: at as u64,
                        }
                        .encode(&mut idx_buf);
                        last_index_at = Some(at as u64);
                    }
                    rec.last_id = r.id;
                    rec.last_ts = r.ts;
                    at += n;
                    valid_end = at;
                }
                Decoded::Short | Decoded::Corrupt => match record::resync(&data, at + 1) {
                    Some(next) => {
                        tracing::warn!(dir = %dir.display(), offset = at, skipped = next - at,
                            "audit log: corrupt record inside the last segment kept in place");
                        at = next;
                    }
                    None => break,
                },
            }
        }
        if valid_end < data.len() {
            rec.truncated = (data.len() - valid_end) as u64;
            tracing::warn!(dir = %dir.display(), bytes = rec.truncated,
                "audit log: torn tail truncated at recovery");
            file.set_len(valid_end as u64)?;
            file.sync_all()?;
        }
        // An empty tail segment after earlier ones: the last record is in the previous ones.
        if rec.last_id == 0 && segs.len() > 1 {
            let mut r = LogReader::new(dir);
            if let Some(last) = r.last_record()? {
                rec.last_id = last.id;
                rec.last_ts = last.ts;
            }
        }
        let idx = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(segment::idx_path(dir, first))?;
        idx.write_all_at(&idx_buf, 0)?;
        sync_dir(dir)?;
        let w = LogWriter {
            dir: dir.to_path_buf(),
            segment_bytes: segment_bytes.max(4096),
            first,
            file,
            idx,
            len: valid_end as u64,
            last_index_at,
            buf: Vec::with_capacity(1 << 20),
            idx_buf: Vec::new(),
            dirty: false,
        };
        Ok((w, rec))
    }

    /// Adds one record to the pending batch (written by [`LogWriter::flush`]).
    pub fn push(&mut self, id: u64, ts: i64, flags: u32, payload: &[u8]) {
        let offset = self.len + self.buf.len() as u64;
        if !matches!(self.last_index_at, Some(l) if offset - l < INDEX_STRIDE) {
            IndexEntry { ts, id, offset }.encode(&mut self.idx_buf);
            self.last_index_at = Some(offset);
        }
        record::encode(&mut self.buf, id, ts, flags, payload);
    }

    /// Writes the pending batch (one positioned write). On failure the segment is cut back to
    /// its previous length so no partial record stays in the middle of the log, and the batch
    /// is discarded.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let res = self.file.write_all_at(&self.buf, self.len);
        match res {
            Ok(()) => {
                self.len += self.buf.len() as u64;
                self.buf.clear();
                self.dirty = true;
                if !self.idx_buf.is_empty() {
                    let at = self.idx.metadata().map(|m| m.len()).unwrap_or(0);
                    // The index is a hint: a failure here costs only speed.
                    let _ = self.idx.write_all_at(&self.idx_buf, at);
                    self.idx_buf.clear();
                }
                Ok(())
            }
            Err(e) => {
                self.discard();
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }

    /// Drops the pending batch.
    pub fn discard(&mut self) {
        self.buf.clear();
        self.idx_buf.clear();
        // Re-derive the index position: entries for the dropped batch were never written.
        self.last_index_at = None;
    }

    /// Makes everything written durable (`fdatasync`), then rotates if the segment is full.
    /// `next_id` names the next segment.
    pub fn sync(&mut self, next_id: u64) -> io::Result<()> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        if self.len >= self.segment_bytes {
            self.rotate(next_id)?;
        }
        Ok(())
    }

    fn rotate(&mut self, next_id: u64) -> io::Result<()> {
        let path = segment::log_path(&self.dir, next_id);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        let idx = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(segment::idx_path(&self.dir, next_id))?;
        sync_dir(&self.dir)?;
        let _ = self.idx.flush();
        self.first = next_id;
        self.file = file;
        self.idx = idx;
        self.len = 0;
        self.last_index_at = None;
        tracing::debug!(dir = %self.dir.display(), first = next_id, "audit log: new segment");
        Ok(())
    }

    /// Bytes in the active segment.
    pub fn segment_len(&self) -> u64 {
        self.len
    }

    /// First id of the active segment.
    pub fn active_segment(&self) -> u64 {
        self.first
    }

    /// Deletes sealed segments whose every record is older than `cutoff_us` (the next
    /// segment starts before the cutoff). The active segment is never deleted. Returns the
    /// number removed.
    pub fn apply_retention(&mut self, cutoff_us: i64) -> io::Result<usize> {
        let segs = segment::list(&self.dir)?;
        let mut reader = LogReader::new(&self.dir);
        let mut removed = 0;
        for pair in segs.windows(2) {
            let (seg, next) = (pair[0], pair[1]);
            if seg == self.first {
                break;
            }
            match reader.first_of(next)? {
                Some((_, next_ts)) if next_ts < cutoff_us => {
                    fs::remove_file(segment::log_path(&self.dir, seg))?;
                    let _ = fs::remove_file(segment::idx_path(&self.dir, seg));
                    removed += 1;
                }
                _ => break,
            }
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
            tracing::info!(dir = %self.dir.display(), removed, "audit log: retention removed segments");
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::reader::{LogReader, Position};
    use crate::testutil::TempDir;

    fn fill(w: &mut LogWriter, from: u64, n: u64, ts0: i64) {
        for i in from..from + n {
            w.push(i, ts0 + i as i64, 0, format!("{{\"n\":{i}}}").as_bytes());
            if i % 100 == 0 {
                w.flush().unwrap();
                w.sync(i + 1).unwrap();
            }
        }
        w.flush().unwrap();
        w.sync(from + n).unwrap();
    }

    #[test]
    fn torn_tail_is_truncated_and_ids_resume() {
        let t = TempDir::new("torn");
        let (mut w, rec) = LogWriter::open(&t.0, 1 << 20).unwrap();
        assert_eq!(rec.last_id, 0);
        fill(&mut w, 1, 50, 1000);
        let seg = w.active_segment();
        drop(w);
        // Tear the tail: append half a record.
        let p = segment::log_path(&t.0, seg);
        let mut extra = Vec::new();
        record::encode(&mut extra, 51, 2000, 0, b"{\"n\":51}");
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&extra[..extra.len() - 3]).unwrap();
        drop(f);
        let (_, rec) = LogWriter::open(&t.0, 1 << 20).unwrap();
        assert_eq!(rec.last_id, 50);
        assert_eq!(rec.truncated, (extra.len() - 3) as u64);
    }

    #[test]
    fn corruption_in_the_middle_is_skipped_by_readers() {
        let t = TempDir::new("mid");
        let (mut w, _) = LogWriter::open(&t.0, 1 << 20).unwrap();
        fill(&mut w, 1, 100, 0);
        drop(w);
        let p = segment::log_path(&t.0, 1);
        let mut data = fs::read(&p).unwrap();
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
        fs::write(&p, &data).unwrap();
        let mut r = LogReader::new(&t.0);
        let mut pos = Position {
            segment: 1,
            offset: 0,
        };
        let recs = r.read_from(&mut pos, u64::MAX, 1000).unwrap();
        assert_eq!(recs.len(), 99, "one record lost, the rest read");
        assert_eq!(r.corruptions, 1);
        // Recovery keeps the records after the damage.
        let (_, rec) = LogWriter::open(&t.0, 1 << 20).unwrap();
        assert_eq!(rec.last_id, 100);
        assert_eq!(rec.truncated, 0);
    }

    #[test]
    fn rotation_retention_and_window_reads() {
        let t = TempDir::new("rot");
        let (mut w, _) = LogWriter::open(&t.0, 64 * 1024).unwrap();
        // 20,000 records, 1 per ms of "time".
        for i in 1..=20_000u64 {
            w.push(
                i,
                i as i64 * 1000,
                0,
                format!("{{\"n\":{i},\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}}").as_bytes(),
            );
            if i % 500 == 0 {
                w.flush().unwrap();
                w.sync(i + 1).unwrap();
            }
        }
        w.flush().unwrap();
        w.sync(20_001).unwrap();
        let segs = segment::list(&t.0).unwrap();
        assert!(segs.len() > 5, "{segs:?}");
        let total: u64 = segs
            .iter()
            .map(|s| fs::metadata(segment::log_path(&t.0, *s)).unwrap().len())
            .sum();

        // Window of 100 records.
        let mut r = LogReader::new(&t.0);
        let mut got = Vec::new();
        r.window(10_000_000, 10_099_000, &mut |rec| {
            got.push(rec.id);
            true
        })
        .unwrap();
        assert_eq!(got, (10_000..10_100).collect::<Vec<_>>());
        assert!(r.bytes_read < total / 4, "read {} of {total}", r.bytes_read);

        // Cursor helpers.
        let mut r = LogReader::new(&t.0);
        assert_eq!(r.last_id_before(10_000_000).unwrap(), 9_999);
        let mut pos = r.position_after(12_345).unwrap().unwrap();
        let recs = r.read_from(&mut pos, 12_400, 1000).unwrap();
        assert_eq!(recs.first().unwrap().id, 12_346);
        assert_eq!(recs.last().unwrap().id, 12_400);
        assert_eq!(r.last_record().unwrap().unwrap().id, 20_000);

        // Retention: drop everything older than t=15s; the segment holding 15s stays.
        let removed = w.apply_retention(15_000_000).unwrap();
        assert!(removed > 0);
        let mut r = LogReader::new(&t.0);
        let mut pos = r.position_after(0).unwrap().unwrap();
        let recs = r.read_from(&mut pos, u64::MAX, 100_000).unwrap();
        assert!(recs.first().unwrap().id <= 15_000);
        assert_eq!(recs.last().unwrap().id, 20_000);
        assert!(recs.windows(2).all(|p| p[1].id == p[0].id + 1));
    }
}
