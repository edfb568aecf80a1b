//! JSON lines file sink: one event per line, synced after each batch, rotated by size
//! (`path` → `path.1` → … → `path.<keep>`, the oldest deleted).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use super::{Sink, SinkRecord};
use crate::event::Topic;

/// Appends JSON lines to a file.
pub struct JsonFileSink {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<(File, u64)>,
}

impl JsonFileSink {
    /// A sink writing `path`.
    pub fn new(path: PathBuf, max_bytes: u64, keep: u32) -> JsonFileSink {
        JsonFileSink {
            path,
            max_bytes,
            keep,
            file: None,
        }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.keep == 0 {
            return fs::remove_file(&self.path);
        }
        let _ = fs::remove_file(self.rotated(self.keep));
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        fs::rename(&self.path, self.rotated(1))
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let (f, l) = self.open()?;
        f.write_all(buf)?;
        f.sync_data()?;
        *l += buf.len() as u64;
        Ok(())
    }

    fn open(&mut self) -> io::Result<&mut (File, u64)> {
        if self.file.is_none() {
            if let Some(d) = self.path.parent() {
                fs::create_dir_all(d)?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let len = f.metadata()?.len();
            self.file = Some((f, len));
        }
        // Just filled above.
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("json sink: no file"))
    }
}

impl Sink for JsonFileSink {
    fn send(&mut self, _topic: Topic, batch: &[SinkRecord]) -> io::Result<()> {
        // Lines go to the current file until the next one would take it past `max_bytes`;
        // then the file is rotated (a line longer than `max_bytes` gets a file of its own).
        let mut buf = Vec::new();
        for r in batch {
            let line = r.json.len() as u64 + 1;
            let len = self.open()?.1 + buf.len() as u64;
            if len > 0 && len + line > self.max_bytes {
                self.write(&buf)?;
                buf.clear();
                self.rotate()?;
            }
            buf.extend_from_slice(&r.json);
            buf.push(b'\n');
        }
        self.write(&buf)
    }

    fn reset(&mut self) {
        self.file = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn rotates_and_keeps() {
        let t = TempDir::new("jsonl");
        let path = t.0.join("a.jsonl");
        let mut s = JsonFileSink::new(path.clone(), 100, 2);
        let recs: Vec<SinkRecord> = (0..30)
            .map(|i| SinkRecord {
                id: i,
                ts: 0,
                flags: 0,
                json: format!("{{\"id\":{i:03}}}").into_bytes(),
                event: None,
            })
            .collect();
        s.send(Topic::Protocol, &recs).unwrap();
        assert!(t.0.join("a.jsonl.1").exists());
        assert!(t.0.join("a.jsonl.2").exists());
        assert!(!t.0.join("a.jsonl.3").exists());
        let last = fs::read_to_string(&path).unwrap();
        assert!(last.ends_with("{\"id\":029}\n"), "{last}");
    }
}
