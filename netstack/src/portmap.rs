//! [`PortMap`]: a small map keyed by port, for the few listeners and bound UDP sockets an
//! appliance has.
//!
//! A sorted `Vec` of ports beside a `Vec` of values, searched by bisection: lookups are as fast
//! as a `BTreeMap`'s at these sizes, and the code is a few hundred bytes where each `BTreeMap`
//! instantiation links several KiB (insert, remove with node merging and stealing, drop) into
//! every image. The search is not generic, so it exists once whatever the value type.

use alloc::vec::Vec;

/// Values by port, at most one per port.
#[derive(Debug)]
pub(crate) struct PortMap<V> {
    /// Sorted, no duplicates; `values[i]` belongs to `ports[i]`.
    ports: Vec<u16>,
    values: Vec<V>,
}

impl<V> Default for PortMap<V> {
    fn default() -> Self {
        PortMap {
            ports: Vec::new(),
            values: Vec::new(),
        }
    }
}

/// Where `port` is in `ports` (`Ok`), or where it would go (`Err`).
fn find(ports: &[u16], port: u16) -> Result<usize, usize> {
    ports.binary_search(&port)
}

impl<V> PortMap<V> {
    pub(crate) fn contains_key(&self, port: u16) -> bool {
        find(&self.ports, port).is_ok()
    }

    pub(crate) fn get(&self, port: u16) -> Option<&V> {
        find(&self.ports, port).ok().map(|i| &self.values[i])
    }

    pub(crate) fn get_mut(&mut self, port: u16) -> Option<&mut V> {
        find(&self.ports, port).ok().map(|i| &mut self.values[i])
    }

    /// Puts `value` at `port`; returns the value it replaced.
    pub(crate) fn insert(&mut self, port: u16, value: V) -> Option<V> {
        match find(&self.ports, port) {
            Ok(i) => Some(core::mem::replace(&mut self.values[i], value)),
            Err(i) => {
                self.ports.insert(i, port);
                self.values.insert(i, value);
                None
            }
        }
    }

    pub(crate) fn remove(&mut self, port: u16) -> Option<V> {
        let i = find(&self.ports, port).ok()?;
        self.ports.remove(i);
        Some(self.values.remove(i))
    }

    /// The values, in port order.
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
