//! One entry point that runs every decoder of this crate over arbitrary bytes. The libFuzzer
//! target `fuzz/fuzz_targets/nfs_rpc.rs` calls it; a deterministic test below runs it over
//! mutated valid calls so CI exercises it on stable Rust.

use bytes::BytesMut;

use crate::mount::{self, MountProc};
use crate::nfs3::args::Args;
use crate::nfs3::{self, NfsProc};
use crate::rpc::{CallHeader, Credential, ReplyHeader};
use crate::xdr::Reader;
use crate::RecordDecoder;

/// Feeds `data` through the record framer (cap 64 KiB), then each record through the call
/// header, credential and argument decoders, and the raw bytes through every procedure's
/// decoder. Must never panic, whatever `data` is.
pub fn decode_everything(data: &[u8]) {
    let mut framer = RecordDecoder::new(64 * 1024);
    let mut input = BytesMut::from(data);
    while let Ok(Some(record)) = framer.decode(&mut input) {
        decode_call(&record);
    }
    decode_call(data);
    let _ = ReplyHeader::decode(&mut Reader::new(data));
    // Both readers: the shared one slices WRITE data out of its buffer instead of copying.
    let shared = bytes::Bytes::copy_from_slice(data);
    for p in 0..23 {
        let _ = Args::decode(NfsProc(p), &mut Reader::new(data));
        let _ = Args::decode(NfsProc(p), &mut Reader::new_shared(&shared));
    }
}

fn decode_call(record: &[u8]) {
    let mut r = Reader::new(record);
    let Ok(call) = CallHeader::decode(&mut r) else {
        return;
    };
    let _ = Credential::from_opaque(&call.cred);
    match call.prog {
        mount::PROGRAM => {
            if matches!(MountProc(call.proc_), MountProc::MNT | MountProc::UMNT) {
                let _ = mount::decode_dirpath(&mut r);
            }
        }
        nfs3::PROGRAM => {
            let _ = Args::decode(NfsProc(call.proc_), &mut r);
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::rpc::{AuthFlavor, AuthSys, OpaqueAuth};
    use crate::xdr::{Encode, XdrWrite};
    use bytes::BufMut;

    /// Deterministic linear congruential generator (Knuth's MMIX constants).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
    }

    fn seed_calls() -> Vec<Vec<u8>> {
        let mut seeds = Vec::new();
        let mut cred = Vec::new();
        AuthSys {
            stamp: 1,
            machine_name: b"m".to_vec(),
            uid: 0,
            gid: 0,
            gids: vec![1],
        }
        .encode(&mut cred);
        for (prog, procs) in [(nfs3::PROGRAM, 22u32), (mount::PROGRAM, 6)] {
            for p in 0..procs {
                let mut body = Vec::new();
                CallHeader {
                    xid: p,
                    prog,
                    vers: 3,
                    proc_: p,
                    cred: OpaqueAuth {
                        flavor: AuthFlavor::SYS,
                        body: cred.clone(),
                    },
                    verf: OpaqueAuth::none(),
                }
                .encode(&mut body);
                // Plausible arguments: a handle, then numbers, names and sattr3-ish words.
                body.put_xdr_opaque(&[7; 32]);
                body.put_xdr_opaque(b"name");
                for w in [0u32, 1, 0, 1, 0o644, 0, 0, 2, 3, 4, 8, 0, 1] {
                    body.put_u32(w);
                }
                body.put_xdr_opaque(b"data");
                let mut rec = crate::encode_record_header(body.len()).to_vec();
                rec.extend(body);
                seeds.push(rec);
            }
        }
        seeds
    }

    #[test]
    fn mutated_inputs_never_panic() {
        let seeds = seed_calls();
        let mut rng = Lcg(0x5eed);
        for i in 0..4000 {
            let mut input = seeds[i % seeds.len()].clone();
            let mutations = 1 + rng.next() % 8;
            for _ in 0..mutations {
                let len = input.len().max(1);
                match rng.next() % 5 {
                    0 => {
                        let at = rng.next() as usize % len;
                        if let Some(b) = input.get_mut(at) {
                            *b = rng.next() as u8;
                        }
                    }
                    1 => {
                        let at = (rng.next() as usize % len) & !3;
                        let v = [0xffff_ffffu32, 0x8000_0000, 0x7fff_ffff, 65, 17, 0, 2]
                            [rng.next() as usize % 7];
                        for (k, b) in v.to_be_bytes().iter().enumerate() {
                            if let Some(x) = input.get_mut(at + k) {
                                *x = *b;
                            }
                        }
                    }
                    2 => input.truncate(rng.next() as usize % len),
                    3 => {
                        let n = rng.next() % 64;
                        input.extend((0..n).map(|_| rng.next() as u8));
                    }
                    _ => {
                        let at = rng.next() as usize % len;
                        input.insert(at.min(input.len()), rng.next() as u8);
                    }
                }
            }
            decode_everything(&input);
        }
        for _ in 0..500 {
            let n = rng.next() % 256;
            let input: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            decode_everything(&input);
        }
    }
}
