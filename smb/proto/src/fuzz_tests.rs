//! Runs every decoder over a few thousand deterministic pseudo-random and mutated inputs, so
//! CI exercises the fuzz targets' entry points on stable. None may panic.

use crate::*;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() as usize) % n.max(1)
    }
}

/// Feeds `data` to every decoder that takes a whole SMB2 message.
pub fn decode_all(data: &[u8]) {
    let _ = header::Header::decode(data);
    let _ = negotiate::NegotiateRequest::decode(data);
    let _ = negotiate::parse_smb1_negotiate(data);
    let _ = negotiate::ValidateNegotiateInfo::decode(data);
    let _ = session::SessionSetupRequest::decode(data);
    let _ = tree::TreeConnectRequest::decode(data);
    let _ = create::CreateRequest::decode(data);
    let _ = close::CloseRequest::decode(data);
    let _ = query_directory::QueryDirectoryRequest::decode(data);
    let _ = query_info::QueryInfoRequest::decode(data);
    let _ = rw::ReadRequest::decode(data);
    let _ = rw::WriteRequest::decode(data);
    let _ = lock::LockRequest::decode(data);
    let _ = ioctl::IoctlRequest::decode(data);
    let _ = oplock::BreakAck::decode(data);
    let _ = lease::LeaseContext::decode(data.get(crate::header::HEADER_LEN..).unwrap_or(&[]));
    let _ = misc::ChangeNotifyRequest::decode(data);
    let _ = compound::split(data, 32);
    let _ = framing::parse_frame_header([data.first().copied().unwrap_or(0), 1, 2, 3], 1 << 20);
}

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (cmd, size) in [
        (0u16, 36u16),
        (1, 25),
        (3, 9),
        (5, 57),
        (6, 24),
        (8, 49),
        (9, 49),
        (11, 57),
        (14, 33),
        (16, 41),
    ] {
        let mut v = Vec::new();
        header::Header {
            command: header::Command(cmd),
            ..Default::default()
        }
        .encode(&mut v);
        v.extend_from_slice(&size.to_le_bytes());
        v.resize(160, 0);
        // Point the usual offset fields at the body so mutations explore them.
        for i in (66..120).step_by(2) {
            if let Some(b) = v.get_mut(i) {
                *b = 0x78;
            }
        }
        seeds.push(v);
    }
    seeds
}

#[test]
fn decoders_survive_random_and_mutated_input() {
    let mut rng = Lcg(0x5eed);
    let seeds = seeds();
    for i in 0..4000 {
        let mut data = if i % 4 == 0 {
            let len = rng.below(300);
            (0..len).map(|_| rng.next() as u8).collect::<Vec<u8>>()
        } else {
            seeds[rng.below(seeds.len())].clone()
        };
        let flips = rng.below(8);
        for _ in 0..flips {
            if data.is_empty() {
                break;
            }
            let at = rng.below(data.len());
            data[at] = rng.next() as u8;
        }
        if rng.below(3) == 0 {
            let cut = rng.below(data.len() + 1);
            data.truncate(cut);
        }
        decode_all(&data);
    }
}
