//! Names for audit events: the [`AuditLayer`](crate::AuditLayer)'s bounded map from handles
//! to their parent and name, and lexical normalization of paths (no `.` or `..` in a logged
//! name).

use std::collections::HashMap;
use std::sync::Mutex;

use shoal_vfs::FileHandle;

#[derive(Clone)]
pub(crate) struct Node {
    pub parent: Option<FileHandle>,
    pub name: Vec<u8>,
    pub inode: u64,
    pub is_dir: bool,
}

pub(crate) struct NameCache {
    capacity: usize,
    gens: Mutex<(HashMap<FileHandle, Node>, HashMap<FileHandle, Node>)>,
}

impl NameCache {
    pub(crate) fn new(capacity: usize) -> NameCache {
        NameCache {
            capacity: capacity.max(16),
            gens: Mutex::new((HashMap::new(), HashMap::new())),
        }
    }

    pub(crate) fn insert(&self, h: &FileHandle, node: Node) {
        let mut g = self.gens.lock().unwrap_or_else(|p| p.into_inner());
        if g.0.len() >= self.capacity && !g.0.contains_key(h) {
            let young = std::mem::take(&mut g.0);
            g.1 = young;
        }
        g.0.insert(h.clone(), node);
    }

    pub(crate) fn get(&self, h: &FileHandle) -> Option<Node> {
        let mut g = self.gens.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = g.0.get(h) {
            return Some(n.clone());
        }
        let n = g.1.remove(h)?;
        if g.0.len() < self.capacity {
            g.0.insert(h.clone(), n.clone());
        }
        Some(n)
    }

    pub(crate) fn forget(&self, h: &FileHandle) {
        let mut g = self.gens.lock().unwrap_or_else(|p| p.into_inner());
        g.0.remove(h);
        g.1.remove(h);
    }

    /// Path of a handle (see the module doc).
    pub(crate) fn path(&self, h: &FileHandle) -> Option<String> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut cur = h.clone();
        for _ in 0..256 {
            let Some(n) = self.get(&cur) else {
                if parts.is_empty() {
                    return None;
                }
                parts.push("…".as_bytes().to_vec());
                break;
            };
            match n.parent {
                Some(p) => {
                    parts.push(n.name);
                    cur = p;
                }
                None => {
                    parts.push(n.name);
                    break;
                }
            }
        }
        parts.reverse();
        let mut s = String::new();
        for (i, p) in parts.iter().enumerate() {
            let p = String::from_utf8_lossy(p);
            if i == 0 {
                s.push_str(&p);
            } else {
                if !s.ends_with('/') {
                    s.push('/');
                }
                s.push_str(&p);
            }
        }
        Some(s)
    }
}

/// `base` joined with the `/`-separated `rel`, whose `.` and `..` components are resolved
/// lexically and never climb above `base` (audit names never hold `..`).
pub fn join_normalized(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = base.to_string();
    for p in parts {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::join_normalized;

    #[test]
    fn normalized_names_never_climb_or_hold_dots() {
        assert_eq!(
            join_normalized("/data", "alice/../../../alice/x1.txt"),
            "/data/alice/x1.txt"
        );
        assert_eq!(
            join_normalized("/data", "../../etc/passwd"),
            "/data/etc/passwd"
        );
        assert_eq!(join_normalized("/", "../../etc/passwd"), "/etc/passwd");
        assert_eq!(join_normalized("/", "./a/./b/"), "/a/b");
        assert_eq!(join_normalized("/data", ""), "/data");
        assert_eq!(join_normalized("…/d", ".."), "…/d");
    }
}
