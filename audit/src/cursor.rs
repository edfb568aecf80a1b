//! Persistent forwarder cursors: `<log_dir>/<node>/cursors/<sink>.<topic>.json` holds the id
//! and timestamp of the last event the sink confirmed. Written by the forwarder (temp file +
//! rename, so a crash leaves the old or the new cursor, never a torn one). A cursor that lags
//! only causes re-delivery (at-least-once).
//!
//! An admin moves a cursor (`shoal audit cursor`) by writing a request file
//! `<sink>.<topic>.move`; the forwarder applies it at its next step (or at the next start),
//! so the forwarder stays the only writer of the cursor itself.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::Topic;

/// Where a sink stands in a topic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Last id delivered (0 = nothing yet).
    pub id: u64,
    /// Its timestamp, µs (0 = nothing yet).
    pub timestamp: i64,
    /// When the cursor was written, µs.
    #[serde(default)]
    pub updated: i64,
}

/// Cursor file path.
pub fn cursor_path(dir: &Path, sink: &str, topic: Topic) -> PathBuf {
    dir.join(format!("{sink}.{topic}.json"))
}

/// Move-request file path.
pub fn move_path(dir: &Path, sink: &str, topic: Topic) -> PathBuf {
    dir.join(format!("{sink}.{topic}.move"))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    fs::rename(&tmp, path)
}

impl Cursor {
    /// Loads a cursor; a missing file is the start of the log.
    pub fn load(path: &Path) -> io::Result<Cursor> {
        match fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Cursor::default()),
            Err(e) => Err(e),
        }
    }

    /// Saves atomically.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        write_atomic(path, &bytes)
    }
}

/// Writes a move request.
pub fn request_move(dir: &Path, sink: &str, topic: Topic, to: Cursor) -> io::Result<()> {
    let bytes = serde_json::to_vec(&to).map_err(io::Error::other)?;
    write_atomic(&move_path(dir, sink, topic), &bytes)
}

/// Takes a pending move request, if any.
pub fn take_move(dir: &Path, sink: &str, topic: Topic) -> io::Result<Option<Cursor>> {
    let p = move_path(dir, sink, topic);
    match fs::read(&p) {
        Ok(b) => {
            fs::remove_file(&p)?;
            Ok(serde_json::from_slice(&b).ok())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn persist_and_move() {
        let t = TempDir::new("cursor");
        let p = cursor_path(&t.0, "siem", Topic::Protocol);
        assert_eq!(Cursor::load(&p).unwrap(), Cursor::default());
        let c = Cursor {
            id: 42,
            timestamp: 7,
            updated: 9,
        };
        c.save(&p).unwrap();
        assert_eq!(Cursor::load(&p).unwrap(), c);
        assert_eq!(take_move(&t.0, "siem", Topic::Protocol).unwrap(), None);
        request_move(
            &t.0,
            "siem",
            Topic::Protocol,
            Cursor {
                id: 3,
                timestamp: 1,
                updated: 2,
            },
        )
        .unwrap();
        assert_eq!(
            take_move(&t.0, "siem", Topic::Protocol)
                .unwrap()
                .unwrap()
                .id,
            3
        );
        assert_eq!(take_move(&t.0, "siem", Topic::Protocol).unwrap(), None);
    }
}
