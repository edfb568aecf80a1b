//! Reading the log: by time window (viewer), from an id on (forwarders), and the last record
//! (progress). Every byte read from disk is counted in [`LogReader::bytes_read`], which is how
//! tests show that a window read touches a small part of the log.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::record::{self, Decoded, Record, RecordRef, HEADER};
use super::segment::{self, Index};

const CHUNK: usize = 256 * 1024;

/// A position in a topic's log: segment (by first id) and byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// First id of the segment.
    pub segment: u64,
    /// Offset of the next record to read.
    pub offset: u64,
}

/// How a scan ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// The callback asked to stop.
    Stopped,
    /// No more valid records in the segment; `offset` is past the last one.
    End {
        /// Offset after the last valid record seen.
        offset: u64,
    },
}

/// Reads one topic directory.
pub struct LogReader {
    dir: PathBuf,
    /// Bytes read from segment and index files so far.
    pub bytes_read: u64,
    /// Corrupt byte ranges skipped so far.
    pub corruptions: u64,
}

impl LogReader {
    /// A reader over `dir` (`<log_dir>/<node>/<topic>`).
    pub fn new(dir: &Path) -> LogReader {
        LogReader {
            dir: dir.to_path_buf(),
            bytes_read: 0,
            corruptions: 0,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Segment first ids, ascending.
    pub fn segments(&self) -> io::Result<Vec<u64>> {
        segment::list(&self.dir)
    }

    /// Scans the records of `seg` from `from`, calling `f(record, start, end)` until it
    /// returns false or the valid records end. Corrupt bytes in the middle are skipped
    /// (resync on the next record with a good checksum; a record straddling a read chunk
    /// after damage may be lost with it).
    pub fn scan(
        &mut self,
        seg: u64,
        from: u64,
        f: &mut dyn FnMut(RecordRef<'_>, u64, u64) -> bool,
    ) -> io::Result<ScanEnd> {
        let file = match File::open(segment::log_path(&self.dir, seg)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(ScanEnd::End { offset: from })
            }
            Err(e) => return Err(e),
        };
        let file_len = file.metadata()?.len();
        let mut pos = from;
        let mut last_end = from;
        let mut buf = Vec::new();
        while pos < file_len {
            let want = (file_len - pos).min(CHUNK as u64) as usize;
            buf.resize(want, 0);
            file.read_exact_at(&mut buf, pos)?;
            self.bytes_read += want as u64;
            let mut at = 0usize;
            loop {
                match record::decode(&buf[at..]) {
                    Decoded::Ok(r, n) => {
                        let start = pos + at as u64;
                        let end = start + n as u64;
                        last_end = end;
                        at += n;
                        if !f(r, start, end) {
                            return Ok(ScanEnd::Stopped);
                        }
                    }
                    Decoded::Short => {
                        if at == 0 {
                            // A record bigger than the chunk: read exactly it.
                            let total = record::announced_len(&buf).unwrap_or(HEADER) as u64;
                            if pos + total > file_len {
                                return Ok(ScanEnd::End { offset: last_end });
                            }
                            let mut big = vec![0u8; total as usize];
                            file.read_exact_at(&mut big, pos)?;
                            self.bytes_read += total;
                            match record::decode(&big) {
                                Decoded::Ok(r, n) => {
                                    let start = pos;
                                    let end = start + n as u64;
                                    last_end = end;
                                    pos = end;
                                    if !f(r, start, end) {
                                        return Ok(ScanEnd::Stopped);
                                    }
                                }
                                _ => {
                                    self.corruptions += 1;
                                    pos += 1;
                                }
                            }
                        } else {
                            pos += at as u64;
                        }
                        break;
                    }
                    Decoded::Corrupt => {
                        self.corruptions += 1;
                        match record::resync(&buf, at + 1) {
                            Some(next) => {
                                tracing::warn!(dir = %self.dir.display(), seg, offset = pos + at as u64,
                                    skipped = next - at, "audit log: corrupt record skipped");
                                at = next;
                            }
                            None => {
                                tracing::warn!(dir = %self.dir.display(), seg, offset = pos + at as u64,
                                    "audit log: corrupt bytes skipped to next chunk");
                                pos += (buf.len() as u64).max(1);
                                break;
                            }
                        }
                    }
                }
            }
        }
        Ok(ScanEnd::End { offset: last_end })
    }

    /// (id, ts) of the first record of a segment.
    pub fn first_of(&mut self, seg: u64) -> io::Result<Option<(u64, i64)>> {
        let mut out = None;
        self.scan_small(seg, 0, &mut |r, _, _| {
            out = Some((r.id, r.ts));
            false
        })?;
        Ok(out)
    }

    /// Like [`LogReader::scan`] but reads a small first chunk (headers, index hits).
    fn scan_small(
        &mut self,
        seg: u64,
        from: u64,
        f: &mut dyn FnMut(RecordRef<'_>, u64, u64) -> bool,
    ) -> io::Result<()> {
        let file = match File::open(segment::log_path(&self.dir, seg)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut head = [0u8; HEADER];
        if file.read_exact_at(&mut head, from).is_err() {
            return Ok(());
        }
        self.bytes_read += HEADER as u64;
        let Some(total) = record::announced_len(&head) else {
            return Ok(());
        };
        let mut buf = vec![0u8; total];
        if file.read_exact_at(&mut buf, from).is_err() {
            return Ok(());
        }
        self.bytes_read += total as u64;
        if let Decoded::Ok(r, n) = record::decode(&buf) {
            f(r, from, from + n as u64);
        }
        Ok(())
    }

    /// Checks an index hint: the record at `offset` decodes and has `id`.
    fn hint_ok(&mut self, seg: u64, offset: u64, id: u64) -> io::Result<bool> {
        let mut ok = false;
        self.scan_small(seg, offset, &mut |r, _, _| {
            ok = r.id == id;
            false
        })?;
        Ok(ok)
    }

    /// Offset in `seg` from which to scan for records at or after time `ts` (or id `id`).
    fn seek_hint(
        &mut self,
        seg: u64,
        by: impl Fn(&segment::IndexEntry) -> bool,
    ) -> io::Result<u64> {
        let Some(idx) = Index::open(&self.dir, seg)? else {
            return Ok(0);
        };
        let mut br = 0;
        let hit = idx.last_where(&mut br, by)?;
        self.bytes_read += br;
        match hit {
            Some(e) if self.hint_ok(seg, e.offset, e.id)? => Ok(e.offset),
            _ => Ok(0),
        }
    }

    /// Calls `f` for each record with `start <= ts <= end`, in log order, until it returns
    /// false. Reads only the segments whose span overlaps the window and, inside the first
    /// one, starts from the index entry just before `start`.
    pub fn window(
        &mut self,
        start: i64,
        end: i64,
        f: &mut dyn FnMut(RecordRef<'_>) -> bool,
    ) -> io::Result<()> {
        let segs = self.segments()?;
        // First timestamps, to pick the overlapping segments.
        let mut firsts = Vec::with_capacity(segs.len());
        for &s in &segs {
            firsts.push(self.first_of(s)?.map(|(_, ts)| ts));
        }
        for (i, &seg) in segs.iter().enumerate() {
            let Some(first_ts) = firsts[i] else { continue };
            if first_ts > end {
                break;
            }
            let next_first = firsts[i + 1..].iter().flatten().next().copied();
            if matches!(next_first, Some(n) if n < start) {
                continue;
            }
            let from = if first_ts < start {
                self.seek_hint(seg, |e| e.ts < start)?
            } else {
                0
            };
            let mut stop = false;
            self.scan(seg, from, &mut |r, _, _| {
                if r.ts < start {
                    return true;
                }
                if r.ts > end || !f(r) {
                    stop = true;
                    return false;
                }
                true
            })?;
            if stop {
                break;
            }
        }
        Ok(())
    }

    /// Position of the first record with id > `id` (where a forwarder whose cursor is `id`
    /// resumes). When `id` is older than the oldest segment (retention removed it), the start
    /// of the oldest segment.
    pub fn position_after(&mut self, id: u64) -> io::Result<Option<Position>> {
        let segs = self.segments()?;
        let target = id.saturating_add(1);
        let Some(&seg) = segs.iter().rev().find(|&&s| s <= target).or(segs.first()) else {
            return Ok(None);
        };
        if seg > target {
            return Ok(Some(Position {
                segment: seg,
                offset: 0,
            }));
        }
        let from = self.seek_hint(seg, |e| e.id <= target)?;
        let mut found = None;
        let end = self.scan(seg, from, &mut |r, start, _| {
            if r.id >= target {
                found = Some(start);
                return false;
            }
            true
        })?;
        let offset = match (found, end) {
            (Some(o), _) => o,
            (None, ScanEnd::End { offset }) => offset,
            (None, ScanEnd::Stopped) => from,
        };
        Ok(Some(Position {
            segment: seg,
            offset,
        }))
    }

    /// Reads up to `max` records from `pos` on whose id is ≤ `max_id`, advancing `pos` (and
    /// moving to the next segment at the end of one that has a successor).
    pub fn read_from(
        &mut self,
        pos: &mut Position,
        max_id: u64,
        max: usize,
    ) -> io::Result<Vec<Record>> {
        let mut out = Vec::new();
        loop {
            let mut more = true;
            let end = self.scan(pos.segment, pos.offset, &mut |r, _, end| {
                if r.id > max_id || out.len() >= max {
                    more = false;
                    return false;
                }
                out.push(r.to_owned());
                pos.offset = end;
                true
            })?;
            if !more || out.len() >= max {
                return Ok(out);
            }
            if let ScanEnd::End { offset } = end {
                pos.offset = pos.offset.max(offset);
            }
            let segs = self.segments()?;
            match segs.iter().find(|&&s| s > pos.segment) {
                Some(&next) => {
                    *pos = Position {
                        segment: next,
                        offset: 0,
                    }
                }
                None => return Ok(out),
            }
        }
    }

    /// The id of the last record with ts < `ts` (0 when none): the cursor value that makes a
    /// forwarder send everything from `ts` on.
    pub fn last_id_before(&mut self, ts: i64) -> io::Result<u64> {
        let segs = self.segments()?;
        // Timestamps are non-decreasing: the answer is in the last segment starting before ts.
        let mut pick = None;
        for &seg in &segs {
            match self.first_of(seg)? {
                Some((id, first_ts)) if first_ts < ts => pick = Some((seg, id)),
                Some(_) => break,
                None => continue,
            }
        }
        let Some((seg, mut best)) = pick else {
            return Ok(0);
        };
        let from = self.seek_hint(seg, |e| e.ts < ts)?;
        self.scan(seg, from, &mut |r, _, _| {
            if r.ts < ts {
                best = r.id;
                true
            } else {
                false
            }
        })?;
        Ok(best)
    }

    /// The last valid record of the topic.
    pub fn last_record(&mut self) -> io::Result<Option<Record>> {
        let segs = self.segments()?;
        for &seg in segs.iter().rev() {
            let from = self.seek_hint(seg, |_| true)?;
            let mut last = None;
            self.scan(seg, from, &mut |r, _, _| {
                last = Some(r.to_owned());
                true
            })?;
            if last.is_some() {
                return Ok(last);
            }
        }
        Ok(None)
    }
}
