//! The durable on-node log: one directory per topic (`<log_dir>/<node>/<topic>/`), segments of
//! checksummed records ([`record`]), a sparse time/id index per segment ([`segment`]), the
//! appender with recovery, rotation and retention ([`writer`]) and readers ([`reader`]).

pub mod reader;
pub mod record;
pub mod segment;
pub mod writer;

use std::path::{Path, PathBuf};

use crate::event::Topic;

/// `<log_dir>/<node>/<topic>`.
pub fn topic_dir(log_dir: &Path, node: &str, topic: Topic) -> PathBuf {
    log_dir.join(node).join(topic.as_str())
}

/// `<log_dir>/<node>/cursors`.
pub fn cursor_dir(log_dir: &Path, node: &str) -> PathBuf {
    log_dir.join(node).join("cursors")
}
