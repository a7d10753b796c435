//! [`SortedMap`]: a map kept as one vector of pairs in key order, for the small, capped maps
//! that change rarely: the GB28181 agent's devices, a device's channels and the watched
//! streams (`session::gb28181`, by SIP id or stream name; capped by `MAX_DEVICES`,
//! `MAX_CHANNELS`, `MAX_WATCHED`, changed on SIP messages) and the client registry
//! (`server::stats`, by client id, at most `max_connections`; ids only grow, so a new client
//! goes at the end), the config's `gb28181.passwords` and named vhosts, and the GB28181
//! media sessions by SSRC and the driver's sockets and tasks (`server::gb28181::media`,
//! `net::gb28181`; at most `max_media_sessions` or the devices).
//!
//! A binary search and a vector insert or remove cost nothing that matters at these sizes,
//! while each `BTreeMap` instantiation cost 2-7 KB of code on the router build (its node
//! splitting, merging and iterators, once per value type): the GB28181 maps as `BTreeMap`s
//! were about 20 KB, the registry's 4 KB, the config's about 13 KB. Iteration is in key
//! order, as the `BTreeMap`s gave it. Pure: no I/O.

use std::borrow::Borrow;

/// A map kept as `(key, value)` pairs sorted by key, without duplicate keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap(Vec::new())
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    pub fn new() -> Self {
        SortedMap(Vec::new())
    }

    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.0.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }

    /// Sets `key`'s value; the old one, if any, is returned.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// `key`'s value, made by `make` when the key is new (`BTreeMap`'s
    /// `entry(key).or_insert_with(make)`).
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (key, make()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + Clone {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&K, &mut V)> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + Clone {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + Clone {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }
}

impl<'a, K, V> IntoIterator for &'a SortedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<K: Ord + Borrow<Q>, V, Q: Ord + ?Sized> std::ops::Index<&Q> for SortedMap<K, V> {
    type Output = V;

    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no such key in the map")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::SortedMap;

    /// The same operations on a `BTreeMap` and a `SortedMap` give the same answers and the
    /// same order.
    #[test]
    fn behaves_as_a_btree_map() {
        let mut b = BTreeMap::new();
        let mut s = SortedMap::new();
        let mut x: u32 = 12345;
        for step in 0..2000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = format!("{}", (x >> 16) % 64);
            match step % 5 {
                0 | 1 => assert_eq!(b.insert(key.clone(), step), s.insert(key, step)),
                2 => assert_eq!(b.remove(key.as_str()), s.remove(key.as_str())),
                3 => {
                    *b.entry(key.clone()).or_insert_with(|| step) += 1;
                    *s.get_or_insert_with(key, || step) += 1;
                }
                _ => {
                    assert_eq!(b.get(key.as_str()), s.get(key.as_str()));
                    assert_eq!(b.contains_key(key.as_str()), s.contains_key(key.as_str()));
                }
            }
            assert_eq!(b.len(), s.len());
            assert!(b.iter().eq(s.iter()));
        }
        assert!(b.keys().eq(s.keys()));
        assert!(b.values().eq(s.values()));
        assert!(s.values_mut().all(|v| {
            *v += 1;
            true
        }));
        assert!(b.values().map(|v| v + 1).eq(s.values().copied()));
    }
}
