//! A map from names to shared values that each thread reads without a lock: every thread
//! keeps the entries it has looked up, so a name costs a lock once per thread, and then
//! one look-up in the thread's own table (no lock, no allocation).
use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// Tells the maps apart in the threads' tables (tests make maps of their own).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The entries this thread has looked up, by map: each a `HashMap<Box<str>, Arc<V>>`
    /// of its map's `V`.
    static TABLES: RefCell<HashMap<u64, Box<dyn Any>>> = RefCell::default();
}

/// Names to shared values, each made with `V::default()` on its name's first use.
pub struct KeyedMap<V> {
    id: u64,
    /// Every entry, for [`KeyedMap::for_each`]; a thread looks here once per name.
    shared: RwLock<BTreeMap<Box<str>, Arc<V>>>,
}

impl<V> Default for KeyedMap<V> {
    fn default() -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shared: RwLock::default(),
        }
    }
}

impl<V: Default + Send + Sync + 'static> KeyedMap<V> {
    /// Runs `f` on the value of `name`.
    pub fn with<R>(&self, name: &str, f: impl Fn(&V) -> R) -> R {
        let kept = TABLES.try_with(|tables| {
            // In use already (`f` using a map): through the shared map below.
            let mut tables = tables.try_borrow_mut().ok()?;
            let table = tables
                .entry(self.id)
                .or_insert_with(|| Box::new(HashMap::<Box<str>, Arc<V>>::new()))
                .downcast_mut::<HashMap<Box<str>, Arc<V>>>()?;
            Some(match table.get(name) {
                Some(value) => f(value),
                None => {
                    let value = self.shared(name);
                    let result = f(&value);
                    table.insert(name.into(), value);
                    result
                }
            })
        });
        match kept {
            Ok(Some(result)) => result,
            // A thread being torn down has no table left.
            _ => f(&self.shared(name)),
        }
    }

    /// The value of `name` in the shared map, made on first use.
    fn shared(&self, name: &str) -> Arc<V> {
        let known = self
            .shared
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned();
        known.unwrap_or_else(|| {
            self.shared
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(name.into())
                .or_default()
                .clone()
        })
    }

    /// Runs `f` on every entry, in name order.
    pub fn for_each(&self, mut f: impl FnMut(&str, &Arc<V>)) {
        let shared = self.shared.read().unwrap_or_else(PoisonError::into_inner);
        for (name, value) in shared.iter() {
            f(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn every_thread_sees_the_same_value_of_a_name() {
        let map: Arc<KeyedMap<AtomicUsize>> = Arc::default();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let map = map.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        map.with("a", |count| count.fetch_add(1, Ordering::Relaxed));
                        map.with("b", |count| count.fetch_add(2, Ordering::Relaxed));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("joined");
        }
        let mut seen = Vec::new();
        map.for_each(|name, count| seen.push((name.to_owned(), count.load(Ordering::Relaxed))));
        assert_eq!(seen, [("a".to_owned(), 400), ("b".to_owned(), 800)]);
    }

    #[test]
    fn maps_are_apart_and_a_nested_use_goes_through() {
        let first = KeyedMap::<AtomicUsize>::default();
        let second = KeyedMap::<AtomicUsize>::default();
        first.with("x", |count| {
            count.fetch_add(1, Ordering::Relaxed);
            // This thread's table is in use: the shared map answers.
            first.with("x", |again| again.fetch_add(1, Ordering::Relaxed));
            second.with("x", |other| other.fetch_add(5, Ordering::Relaxed));
        });
        assert_eq!(first.with("x", |count| count.load(Ordering::Relaxed)), 2);
        assert_eq!(second.with("x", |count| count.load(Ordering::Relaxed)), 5);
    }
}
