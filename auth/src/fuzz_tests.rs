//! The NTLMSSP and SPNEGO decoders over a few thousand deterministic mutated inputs (what the
//! `smb_ntlmssp` and `smb_spnego` fuzz targets run), so CI exercises them on stable.

use crate::ntlm::{AuthenticateMessage, Challenger, ServerNames};
use crate::spnego;

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

fn names() -> ServerNames {
    ServerNames {
        computer: "S".into(),
        domain: "D".into(),
        dns_computer: "s".into(),
        dns_domain: String::new(),
    }
}

#[test]
fn decoders_survive_mutated_tokens() {
    let neg = b"NTLMSSP\0\x01\0\0\0\x35\x82\x89\xe2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec();
    let (c, challenge) = Challenger::challenge(&neg, [1; 8], 0, &names()).unwrap();
    let mut auth = b"NTLMSSP\0\x03\0\0\0".to_vec();
    for i in 0..6u32 {
        auth.extend_from_slice(&[16, 0, 16, 0]);
        auth.extend_from_slice(&(88 + 16 * i).to_le_bytes());
    }
    auth.extend_from_slice(&0xe288_8235u32.to_le_bytes());
    auth.resize(88 + 96, 0x41);
    let seeds = [
        neg.clone(),
        challenge,
        auth,
        spnego::encode_server_init(),
        spnego::encode_resp(1, true, Some(&neg), Some(&[1; 16])),
    ];
    let mut rng = Lcg(42);
    for i in 0..5000 {
        let mut d = seeds[rng.below(seeds.len())].clone();
        for _ in 0..rng.below(6) {
            let at = rng.below(d.len());
            d[at] = rng.next() as u8;
        }
        if i % 3 == 0 {
            let cut = rng.below(d.len() + 1);
            d.truncate(cut);
        }
        let _ = spnego::decode_client_token(&d);
        let _ = Challenger::challenge(&d, [2; 8], 0, &names());
        if let Ok(a) = AuthenticateMessage::decode(&d) {
            let _ = c.verify(&a, &[0; 16]);
        }
    }
}
