//! Credentials verified lately, by the SHA-256 of their text: a reused token or key costs a
//! hash and a map look-up instead of a signature check or a database read.
//!
//! Bounded: each shard holds at most its share of the capacity; a full shard first drops
//! what has expired, then an arbitrary entry. Entries end at their own deadline (a token's
//! `exp`, a key's re-read time), never later.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use super::Identity;

/// The SHA-256 of a credential: the cache's key, and how API keys are stored.
pub type Digest = [u8; 32];

/// Shards, so that concurrent requests rarely wait on one lock.
const SHARDS: usize = 16;

/// Verified credentials and how long each may be trusted without a new check.
pub struct Verified {
    shards: Box<[RwLock<Shard>]>,
    per_shard: usize,
}

type Shard = HashMap<Digest, Entry, BuildHasherDefault<DigestHasher>>;

#[derive(Clone)]
struct Entry {
    identity: Arc<Identity>,
    until: Instant,
}

impl Verified {
    /// A cache of at most about `capacity` credentials.
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            per_shard,
        }
    }

    fn shard(&self, digest: &Digest) -> &RwLock<Shard> {
        &self.shards[usize::from(digest[0]) % SHARDS]
    }

    /// The identity verified for `digest`, if it is still good at `now`.
    pub fn get(&self, digest: &Digest, now: Instant) -> Option<Arc<Identity>> {
        let shard = self.shard(digest).read().ok()?;
        let entry = shard.get(digest)?;
        (now < entry.until).then(|| entry.identity.clone())
    }

    /// Remembers `identity` for `digest` until `until`.
    pub fn insert(&self, digest: Digest, identity: Arc<Identity>, until: Instant, now: Instant) {
        let Ok(mut shard) = self.shard(&digest).write() else {
            return;
        };
        if shard.len() >= self.per_shard && !shard.contains_key(&digest) {
            shard.retain(|_, entry| entry.until > now);
            if shard.len() >= self.per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        shard.insert(digest, Entry { identity, until });
    }

    /// How many credentials are remembered (expired ones included until dropped).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().map_or(0, |shard| shard.len()))
            .sum()
    }
}

/// Digests are uniformly random already: their first eight bytes are the hash.
#[derive(Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for (i, byte) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*byte) << (8 * i);
        }
    }
}

/// The SHA-256 of `text`.
pub fn digest(text: &str) -> Digest {
    let mut out = [0; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn someone(name: &str) -> Arc<Identity> {
        Arc::new(Identity::new(format!("key:{name}"), Vec::new(), None))
    }

    #[test]
    fn an_entry_lasts_until_its_deadline_and_no_longer() {
        let cache = Verified::new(100);
        let now = Instant::now();
        let key = digest("sk_one");
        cache.insert(key, someone("one"), now + Duration::from_secs(5), now);
        assert!(cache.get(&key, now + Duration::from_secs(4)).is_some());
        assert!(cache.get(&key, now + Duration::from_secs(5)).is_none());
        assert!(cache.get(&digest("sk_two"), now).is_none());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = Verified::new(64);
        let now = Instant::now();
        for n in 0..10_000 {
            let later = now + Duration::from_secs(60);
            cache.insert(digest(&n.to_string()), someone("x"), later, now);
        }
        assert!(cache.len() <= 64, "{}", cache.len());
        // The last one is in: a full shard makes room.
        assert!(cache.get(&digest("9999"), now).is_some());
    }
}
