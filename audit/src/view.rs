//! Offline queries over a log directory, for the CLI (`shoal audit view|progress|cursor`):
//! they read the files only, so they work whether or not the server runs.

use std::fs;
use std::io;
use std::path::Path;

use crate::cursor::{self, Cursor};
use crate::event::Topic;
use crate::log::reader::LogReader;
use crate::log::record::Record;
use crate::log::{self};

/// Node names that have a log under `log_dir`.
pub fn nodes(log_dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(log_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for ent in rd {
        let ent = ent?;
        if !ent.file_type()?.is_dir() {
            continue;
        }
        let name = ent.file_name().to_string_lossy().into_owned();
        if Topic::ALL
            .iter()
            .any(|t| ent.path().join(t.as_str()).is_dir())
        {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// What a view read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ViewStats {
    /// Records returned.
    pub records: u64,
    /// Bytes read from log and index files.
    pub bytes_read: u64,
    /// Total size of the segment files of the nodes viewed.
    pub log_bytes: u64,
}

fn log_size(dir: &Path) -> u64 {
    crate::log::segment::list(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| fs::metadata(crate::log::segment::log_path(dir, *s)).ok())
        .map(|m| m.len())
        .sum()
}

/// Calls `out` for each record of `topic` between `start` and `end` (µs, inclusive), of one
/// node or (when `node` is `None`) of every node merged by time.
pub fn view(
    log_dir: &Path,
    topic: Topic,
    node: Option<&str>,
    start: i64,
    end: i64,
    out: &mut dyn FnMut(&Record) -> io::Result<()>,
) -> io::Result<ViewStats> {
    let nodes = match node {
        Some(n) => vec![n.to_string()],
        None => nodes(log_dir)?,
    };
    let mut stats = ViewStats::default();
    let mut err = None;
    if nodes.len() == 1 {
        let dir = log::topic_dir(log_dir, &nodes[0], topic);
        stats.log_bytes = log_size(&dir);
        let mut r = LogReader::new(&dir);
        r.window(start, end, &mut |rec| {
            stats.records += 1;
            match out(&rec.to_owned()) {
                Ok(()) => true,
                Err(e) => {
                    err = Some(e);
                    false
                }
            }
        })?;
        stats.bytes_read = r.bytes_read;
    } else {
        let mut all: Vec<(i64, usize, Record)> = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let dir = log::topic_dir(log_dir, n, topic);
            stats.log_bytes += log_size(&dir);
            let mut r = LogReader::new(&dir);
            r.window(start, end, &mut |rec| {
                all.push((rec.ts, i, rec.to_owned()));
                true
            })?;
            stats.bytes_read += r.bytes_read;
        }
        all.sort_by_key(|a| (a.0, a.1, a.2.id));
        for (_, _, rec) in &all {
            stats.records += 1;
            out(rec)?;
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

/// Progress of one sink on one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkProgress {
    /// Sink name.
    pub sink: String,
    /// Topic.
    pub topic: Topic,
    /// Its cursor (last delivered id and time).
    pub cursor: Cursor,
}

/// Progress of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProgress {
    /// Node name.
    pub node: String,
    /// Per topic: last logged (id, ts), if any.
    pub last_logged: Vec<(Topic, Option<(u64, i64)>)>,
    /// Per sink and topic.
    pub sinks: Vec<SinkProgress>,
}

/// Per node: last logged event per topic, and each sink's cursor.
pub fn progress(log_dir: &Path) -> io::Result<Vec<NodeProgress>> {
    let mut out = Vec::new();
    for node in nodes(log_dir)? {
        let mut last_logged = Vec::new();
        for t in Topic::ALL {
            let mut r = LogReader::new(&log::topic_dir(log_dir, &node, t));
            last_logged.push((t, r.last_record()?.map(|rec| (rec.id, rec.ts))));
        }
        let mut sinks = Vec::new();
        let cdir = log::cursor_dir(log_dir, &node);
        if let Ok(rd) = fs::read_dir(&cdir) {
            for ent in rd {
                let name = ent?.file_name().to_string_lossy().into_owned();
                let Some(stem) = name.strip_suffix(".json") else {
                    continue;
                };
                let Some((sink, topic)) = stem.rsplit_once('.') else {
                    continue;
                };
                let Some(topic) = Topic::parse(topic) else {
                    continue;
                };
                let cursor = Cursor::load(&cdir.join(&name))?;
                sinks.push(SinkProgress {
                    sink: sink.to_string(),
                    topic,
                    cursor,
                });
            }
        }
        sinks.sort_by(|a, b| (&a.sink, a.topic.as_str()).cmp(&(&b.sink, b.topic.as_str())));
        out.push(NodeProgress {
            node,
            last_logged,
            sinks,
        });
    }
    Ok(out)
}

/// Asks the forwarder of `sink` on `node` to resend from `time_us` on (the cursor is set to
/// the last event before it). Returns the requested cursor.
pub fn move_cursor(
    log_dir: &Path,
    node: &str,
    sink: &str,
    topic: Topic,
    time_us: i64,
) -> io::Result<Cursor> {
    let mut r = LogReader::new(&log::topic_dir(log_dir, node, topic));
    let id = r.last_id_before(time_us)?;
    let c = Cursor {
        id,
        timestamp: time_us.saturating_sub(1),
        updated: crate::time::now_us(),
    };
    cursor::request_move(&log::cursor_dir(log_dir, node), sink, topic, c)?;
    Ok(c)
}
