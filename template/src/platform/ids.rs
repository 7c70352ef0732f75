//! Random UUIDs (version 4) without a system call each: a generator per thread, seeded
//! once by the system. For ids that must not collide, not for secrets.
use std::cell::Cell;

use uuid::Uuid;

thread_local! {
    /// This thread's generator: a key and a counter's start, 128 bits from the system.
    static SEED: Cell<(u64, u64)> = Cell::new({
        let random = Uuid::new_v4().as_u128();
        ((random >> 64) as u64, random as u64)
    });
}

/// SplitMix64's step: a bijection, so distinct inputs give distinct outputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random UUID v4, from this thread's generator.
pub fn uuid_v4() -> Uuid {
    let (key, counter) = SEED.with(|seed| {
        let (key, counter) = seed.get();
        seed.set((key, counter.wrapping_add(0x9e37_79b9_7f4a_7c15)));
        (key, counter)
    });
    // 128 bits from the key and the counter; a UUID v4 keeps 122 of them.
    let first = mix(counter);
    let second = mix(first ^ key);
    let bytes = (u128::from(first) << 64 | u128::from(second)).to_be_bytes();
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn uuids_are_distinct_and_of_version_4() {
        let ids: HashSet<Uuid> = (0..10_000).map(|_| uuid_v4()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            assert_eq!(id.get_version_num(), 4, "{id}");
        }
    }
}
