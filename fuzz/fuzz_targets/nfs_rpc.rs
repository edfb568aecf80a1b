//! Record marking, RPC call header, AUTH_SYS and every MOUNT / NFSv3 argument decoder over
//! arbitrary bytes (STYLE.md 7). Seeds: `pcaps/nfs/` captures, or any valid call.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    shoal_nfs_proto::fuzz::decode_everything(data);
});
