//! [`VecMap`]: a small map on sorted vectors, and [`PortMap`], one keyed by port, for the few
//! listeners and bound UDP sockets an appliance has (the TCP table's connection index is a
//! `VecMap` too).
//!
//! A sorted `Vec` of keys beside a `Vec` of values, searched by bisection: lookups are as fast
//! as a `BTreeMap`'s at these sizes, and the code is a few hundred bytes where each `BTreeMap`
//! instantiation links several KiB (insert, remove with node merging and stealing, drop) into
//! every image. The search depends on the key type only, so it exists once per key type
//! whatever the values.

use alloc::vec::Vec;

/// Values by key, at most one per key.
#[derive(Debug)]
pub(crate) struct VecMap<K, V> {
    /// Sorted, no duplicates; `values[i]` belongs to `keys[i]`.
    keys: Vec<K>,
    values: Vec<V>,
}

/// Values by port.
pub(crate) type PortMap<V> = VecMap<u16, V>;

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            keys: Vec::new(),
            values: Vec::new(),
        }
    }
}

/// Where `key` is in `keys` (`Ok`), or where it would go (`Err`).
fn find<K: Ord>(keys: &[K], key: K) -> Result<usize, usize> {
    keys.binary_search(&key)
}

impl<K: Ord + Copy, V> VecMap<K, V> {
    pub(crate) fn contains_key(&self, key: K) -> bool {
        find(&self.keys, key).is_ok()
    }

    pub(crate) fn get(&self, key: K) -> Option<&V> {
        find(&self.keys, key).ok().map(|i| &self.values[i])
    }

    pub(crate) fn get_mut(&mut self, key: K) -> Option<&mut V> {
        find(&self.keys, key).ok().map(|i| &mut self.values[i])
    }

    /// Puts `value` at `key`; returns the value it replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match find(&self.keys, key) {
            Ok(i) => Some(core::mem::replace(&mut self.values[i], value)),
            Err(i) => {
                self.keys.insert(i, key);
                self.values.insert(i, value);
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, key: K) -> Option<V> {
        let i = find(&self.keys, key).ok()?;
        self.keys.remove(i);
        Some(self.values.remove(i))
    }

    /// The values, in key order.
    pub(crate) fn values_mut(&mut self) -> core::slice::IterMut<'_, V> {
        self.values.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::PortMap;

    #[test]
    fn insert_get_remove_in_port_order() {
        let mut m = PortMap::default();
        assert_eq!(m.insert(443, "b"), None);
        assert_eq!(m.insert(80, "a"), None);
        assert_eq!(m.insert(8080, "c"), None);
        assert_eq!(m.insert(80, "A"), Some("a"));
        assert!(m.contains_key(443) && !m.contains_key(22));
        assert_eq!(m.get(80), Some(&"A"));
        *m.get_mut(8080).unwrap() = "C";
        assert_eq!(
            m.values_mut().map(|v| *v).collect::<Vec<_>>(),
            ["A", "b", "C"]
        );
        assert_eq!(m.remove(443), Some("b"));
        assert_eq!(m.remove(443), None);
        assert_eq!(m.get(443), None);
        assert_eq!(m.values_mut().map(|v| *v).collect::<Vec<_>>(), ["A", "C"]);
    }
}
