//! Which key and algorithm sign a session's messages (MS-SMB2 3.3.4.1.1, 3.3.5.2.4).

use shoal_smb_proto::crypto::signing::{self, Role, SigningAlgorithm};
use shoal_smb_proto::Dialect;

/// The signing algorithm for a dialect (and the 3.1.1 negotiated one).
pub(crate) fn algorithm(
    dialect: Dialect,
    negotiated: Option<SigningAlgorithm>,
) -> SigningAlgorithm {
    if dialect == Dialect::SMB3_1_1 {
        negotiated.unwrap_or(SigningAlgorithm::AesCmac)
    } else if dialect.is_smb3() {
        SigningAlgorithm::AesCmac
    } else {
        SigningAlgorithm::HmacSha256
    }
}

/// A session's signing key with its algorithm.
#[derive(Clone, Copy)]
pub(crate) struct Signer {
    pub alg: SigningAlgorithm,
    pub key: [u8; 16],
}

impl Signer {
    pub fn verify_request(&self, msg: &[u8]) -> bool {
        signing::verify(self.alg, &self.key, msg, Role::Client)
    }

    pub fn sign_response(&self, msg: &mut [u8]) {
        signing::sign(self.alg, &self.key, msg, Role::Server)
    }
}
