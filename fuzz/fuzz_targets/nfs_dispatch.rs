//! The NFS RPC dispatcher (RPC header, credentials, DRC, MOUNT, the NFSv3 procedures) driven
//! with sequences of calls after MOUNT MNT of two exports; input format in
//! `nfs/src/fuzzing.rs`. Asserts no panic and no hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shoal_nfs::fuzzing::nfs_dispatch(data);
});
