//! A header list: names compared without case, values as bytes (a field value may carry
//! obs-text, RFC 9110 §5.5, so it is not always UTF-8).

use alloc::string::String;
use alloc::vec::Vec;

/// The header fields of a request or a response, in the order they came or were added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    list: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// No fields.
    pub const fn new() -> Headers {
        Headers { list: Vec::new() }
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.list
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
    }

    /// The value of the first field named `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| core::str::from_utf8(v).ok())
    }

    /// The values of every field named `name`.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.list
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
    }

    /// Whether a field named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Adds a field, keeping those of the same name.
    pub fn append(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.list
            .push((String::from(name), value.as_ref().to_vec()));
    }

    /// Sets a field, replacing those of the same name.
    pub fn insert(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.remove(name);
        self.append(name, value);
    }

    /// Removes every field named `name`.
    pub fn remove(&mut self, name: &str) {
        self.list.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Keeps the fields for which `keep` says yes.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.list.retain(|(n, _)| keep(n));
    }

    /// Every field, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.list.iter().map(|(n, v)| (&n[..], &v[..]))
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// No fields.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether the comma-separated list in the fields named `name` holds `token` (without
    /// case), as `Connection: keep-alive, Upgrade` holds `upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
    }
}

/// `s` without leading and trailing spaces and tabs (OWS).
pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A `tchar` of RFC 9110 §5.6.2: what field names and methods are made of.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte allowed in a field value (RFC 9110 §5.5): VCHAR, obs-text, SP and HTAB.
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_tokens_are_found() {
        let mut h = Headers::new();
        h.append("Connection", "keep-alive, Upgrade");
        h.append("X-A", "1");
        h.append("x-a", "2");
        assert_eq!(h.get("connection"), Some(&b"keep-alive, Upgrade"[..]));
        assert!(h.has_token("CONNECTION", "upgrade"));
        assert!(!h.has_token("Connection", "close"));
        assert_eq!(h.get_all("X-A").count(), 2);
        h.insert("X-a", "3");
        assert_eq!(h.get_all("x-A").collect::<Vec<_>>(), [b"3"]);
        assert_eq!(trim(b" \t a b \t"), b"a b");
    }
}
