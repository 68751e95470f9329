//! Per-stage random streams derived from one master seed.
//!
//! Every stage owns one ChaCha8 stream, determined by the pipeline's master seed and the
//! stage's id alone. Adding, removing or reordering other stages never shifts it, and the
//! derivation is defined by SHA-256 and little-endian integers only, so it is the same on
//! every platform and for every version of this crate.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

const SEED_DOMAIN: &[u8] = b"dinv-seed-v1";
const RNG_DOMAIN: &[u8] = b"dinv-rng-v1";

/// The seed of stage `stage_id` under master seed `master`: the first 8 bytes, read as a
/// little-endian `u64`, of `SHA-256("dinv-seed-v1" ‖ master.to_le_bytes() ‖ stage_id)`.
///
/// It can also derive sub-streams inside a stage: `derive_seed(ctx.seed(), "init")`.
pub fn derive_seed(master: u64, stage_id: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(SEED_DOMAIN)
        .chain_update(master.to_le_bytes())
        .chain_update(stage_id.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// The ChaCha8 generator for a 64-bit seed: its 32-byte key is
/// `SHA-256("dinv-rng-v1" ‖ seed.to_le_bytes())` (stream 0, position 0).
///
/// Stated explicitly rather than using `SeedableRng::seed_from_u64`, whose expansion is
/// not this crate's to pin.
pub fn rng_from_seed(seed: u64) -> ChaCha8Rng {
    let digest = Sha256::new()
        .chain_update(RNG_DOMAIN)
        .chain_update(seed.to_le_bytes())
        .finalize();
    let mut key = [0u8; 32];
    key.copy_from_slice(&digest);
    ChaCha8Rng::from_seed(key)
}

/// The random stream of stage `stage_id`: `rng_from_seed(derive_seed(master, stage_id))`.
pub fn stage_rng(master: u64, stage_id: &str) -> ChaCha8Rng {
    rng_from_seed(derive_seed(master, stage_id))
}
