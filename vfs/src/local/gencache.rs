//! Inode generations remembered from listings, so a READDIRPLUS of a directory listed before
//! needs one `statx` per entry instead of `fstatat` + `name_to_handle_at` (the handle needs
//! the inode's generation, which no stat call returns).
//!
//! Correctness: an entry is used only when the inode number *and* its birth time (statx
//! `STATX_BTIME`) match what was seen when the generation was read: an inode number reused
//! for a new file comes with a new birth time. Only kernel handles of the generic
//! `FILEID_INO32_GEN` form (type 1, 8 bytes: 32-bit inode number, 32-bit generation, in CPU
//! order: ext2/3/4 and others using the generic encoder) are remembered, and only when the
//! handle's inode number is the one `statx` saw for the same name, so a name that changed
//! between the two calls is never cached. A handle built from the cache can therefore only
//! name the inode the entry's `statx` saw; in the worst case (an inode freed and reused
//! within one timestamp tick by a process other than shoal, with the same birth time) it
//! names a generation that no longer exists and is refused as stale — it never opens another
//! file. shoal's own removals forget the inode at once.
//!
//! Bounded: at most [`CAPACITY`] inodes (16 bytes each); when full the cache is
//! emptied and refilled by later listings.

use std::collections::HashMap;
use std::sync::Mutex;

use super::sys::KernelHandle;

/// Most inodes remembered (a 100,000-entry directory fits).
pub const CAPACITY: usize = 1 << 17;

/// `FILEID_INO32_GEN` (include/linux/exportfs.h).
const FILEID_INO32_GEN: i32 = 1;

/// Birth time as statx gives it (seconds, nanoseconds).
pub type BirthTime = (i64, u32);

/// The cache.
#[derive(Default)]
pub struct GenCache {
    /// 32-bit inode number -> (birth time as [`born_key`] packs it, generation): 16 bytes
    /// a slot, so a 100,000-entry directory's generations stay within about 2 MiB.
    inner: Mutex<HashMap<u32, (u64, u32), BuildInoHasher>>,
}

/// Hashes inode numbers with one multiplication (Fibonacci hashing) instead of SipHash: the
/// keys are not chosen by clients (they are inode numbers the filesystem allocated), and
/// SipHash was a tenth of a cached READDIRPLUS.
#[derive(Clone, Copy, Default)]
struct BuildInoHasher;

impl std::hash::BuildHasher for BuildInoHasher {
    type Hasher = InoHasher;
    fn build_hasher(&self) -> InoHasher {
        InoHasher(0)
    }
}

#[derive(Default)]
struct InoHasher(u64);

impl std::hash::Hasher for InoHasher {
    fn finish(&self) -> u64 {
        // The product's high bits depend on every bit of the key; fold them into the low bits
        // the table indexes with.
        self.0 ^ (self.0 >> 32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl GenCache {
    /// The kernel handle of inode `ino` born at `btime`, if its generation is known.
    pub fn handle(&self, ino: u64, btime: BirthTime) -> Option<KernelHandle> {
        let ino32 = u32::try_from(ino).ok()?;
        let (born, generation) = *self.inner.lock().ok()?.get(&ino32)?;
        if born != born_key(btime) {
            return None;
        }
        let mut bytes = Vec::with_capacity(8);
        bytes.extend_from_slice(&ino32.to_ne_bytes());
        bytes.extend_from_slice(&generation.to_ne_bytes());
        Some(KernelHandle {
            kind: FILEID_INO32_GEN,
            bytes,
        })
    }

    /// Remembers the generation in `kh` for inode `ino` born at `btime`, if `kh` is of the
    /// `FILEID_INO32_GEN` form and names inode `ino`.
    pub fn remember(&self, ino: u64, btime: BirthTime, kh: &KernelHandle) {
        let (Some(generation), Ok(ino32)) = (generation_of(ino, kh), u32::try_from(ino)) else {
            return;
        };
        let Ok(mut map) = self.inner.lock() else {
            return;
        };
        if map.len() >= CAPACITY && !map.contains_key(&ino32) {
            map.clear();
        }
        map.insert(ino32, (born_key(btime), generation));
    }

    /// Forgets inode `ino` (shoal removed a name of it).
    pub fn forget(&self, ino: u64) {
        let Ok(ino32) = u32::try_from(ino) else {
            return;
        };
        if let Ok(mut map) = self.inner.lock() {
            map.remove(&ino32);
        }
    }
}

/// A birth time packed in 64 bits: the low 32 bits of the seconds (times 136 years apart are
/// not told apart) and the nanoseconds.
fn born_key((secs, nanos): BirthTime) -> u64 {
    (u64::from(secs as u32) << 32) | u64::from(nanos)
}

/// True when `kh` is of the `FILEID_INO32_GEN` form and names another inode than `ino`.
pub fn names_other_inode(ino: u64, kh: &KernelHandle) -> bool {
    ino32_gen(kh).is_some_and(|(i, _)| u64::from(i) != ino)
}

/// Inode number and generation of a `FILEID_INO32_GEN` handle.
fn ino32_gen(kh: &KernelHandle) -> Option<(u32, u32)> {
    if kh.kind != FILEID_INO32_GEN {
        return None;
    }
    let [i0, i1, i2, i3, g0, g1, g2, g3] = kh.bytes.as_slice() else {
        return None;
    };
    Some((
        u32::from_ne_bytes([*i0, *i1, *i2, *i3]),
        u32::from_ne_bytes([*g0, *g1, *g2, *g3]),
    ))
}

/// The generation in a `FILEID_INO32_GEN` handle of inode `ino`; `None` for any other form or
/// inode.
fn generation_of(ino: u64, kh: &KernelHandle) -> Option<u32> {
    let (handle_ino, generation) = ino32_gen(kh)?;
    (u64::from(handle_ino) == ino).then_some(generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kh(ino: u32, generation: u32) -> KernelHandle {
        let mut bytes = ino.to_ne_bytes().to_vec();
        bytes.extend_from_slice(&generation.to_ne_bytes());
        KernelHandle {
            kind: FILEID_INO32_GEN,
            bytes,
        }
    }

    #[test]
    fn trusted_only_with_the_same_birth_time() {
        let c = GenCache::default();
        c.remember(12, (100, 5), &kh(12, 77));
        assert_eq!(c.handle(12, (100, 5)), Some(kh(12, 77)));
        // Reused inode number: another birth time.
        assert_eq!(c.handle(12, (100, 6)), None);
        assert_eq!(c.handle(13, (100, 5)), None);
        c.forget(12);
        assert_eq!(c.handle(12, (100, 5)), None);
    }

    #[test]
    fn only_handles_of_the_same_inode_in_the_generic_form() {
        let c = GenCache::default();
        // The name changed between statx and name_to_handle_at: another inode.
        c.remember(12, (1, 0), &kh(13, 1));
        assert_eq!(c.handle(12, (1, 0)), None);
        // Other handle forms (tmpfs's 12-byte type 1, btrfs, xfs) are not remembered.
        let mut long = kh(12, 1);
        long.bytes.extend_from_slice(&[0; 4]);
        c.remember(12, (1, 0), &long);
        let other = KernelHandle {
            kind: 0x4d,
            bytes: kh(12, 1).bytes,
        };
        c.remember(12, (1, 0), &other);
        assert_eq!(c.handle(12, (1, 0)), None);
        // 64-bit inode numbers do not fit the form.
        c.remember(1 << 32, (1, 0), &kh(0, 1));
        assert_eq!(c.handle(1 << 32, (1, 0)), None);
    }

    #[test]
    fn bounded() {
        let c = GenCache::default();
        for i in 0..(CAPACITY as u32 + 10) {
            c.remember(u64::from(i), (1, 0), &kh(i, 1));
        }
        assert!(c.inner.lock().unwrap().len() <= CAPACITY);
    }
}
