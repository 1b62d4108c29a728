//! A tiny JSON field extractor: enough to read criterion's `estimates.json` and our own
//! reports without a JSON library. It returns the raw text of values and does not unescape
//! strings, so it suits machine-written files with plain keys.

/// The median point estimate from criterion's `estimates.json`: `median.point_estimate`.
pub fn median_point_estimate(estimates: &str) -> Option<f64> {
    let median = field(estimates, "median")?;
    number(field(median, "point_estimate")?)
}

/// The raw text of the value stored under `key` in the JSON object `object`.
pub fn field<'a>(object: &'a str, key: &str) -> Option<&'a str> {
    let mut scanner = Scanner::new(object);
    scanner.open(b'{')?;
    loop {
        let name = scanner.string()?;
        scanner.skip_whitespace();
        scanner.expect(b':')?;
        let value = scanner.value()?;
        if name == key {
            return Some(value);
        }
        scanner.next_or_close(b'}')??;
    }
}

/// The raw text of each element of the JSON array `array`.
pub fn items(array: &str) -> Option<Vec<&str>> {
    let mut scanner = Scanner::new(array);
    let mut items = Vec::new();
    if scanner.open(b'[').is_none() {
        return scanner.empty(b']').then_some(items);
    }
    loop {
        items.push(scanner.value()?);
        if scanner.next_or_close(b']')?.is_none() {
            return Some(items);
        }
    }
}

/// A finite JSON number; `None` for `null` or anything else.
pub fn number(raw: &str) -> Option<f64> {
    raw.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// The contents of a JSON string without its quotes (escapes are left as written).
pub fn string(raw: &str) -> Option<&str> {
    raw.strip_prefix('"')?.strip_suffix('"')
}

/// A cursor over JSON text. It only ever slices at ASCII delimiters, so it cannot split a
/// character, and every read is bounds-checked, so malformed input yields `None`.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        if self.peek()? != byte {
            return None;
        }
        self.pos += 1;
        Some(())
    }

    /// Consumes the opening `byte`; `None` when the container is empty or malformed
    /// (then [`Self::empty`] tells which).
    fn open(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        self.expect(byte)?;
        let start = self.pos;
        self.skip_whitespace();
        if matches!(self.peek(), Some(b'}' | b']')) {
            self.pos = start;
            return None;
        }
        Some(())
    }

    /// Whether the text was a well-formed empty container closed by `close`.
    fn empty(&mut self, close: u8) -> bool {
        self.skip_whitespace();
        self.expect(close).is_some()
    }

    /// After a member: `Some(Some(()))` on a comma, `Some(None)` on `close`, else `None`.
    fn next_or_close(&mut self, close: u8) -> Option<Option<()>> {
        self.skip_whitespace();
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Some(Some(()))
            }
            byte if byte == close => {
                self.pos += 1;
                Some(None)
            }
            _ => None,
        }
    }

    /// A string's contents, after skipping leading whitespace.
    fn string(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        self.expect(b'"')?;
        let start = self.pos;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => break,
                _ => self.pos += 1,
            }
        }
        let contents = self.text.get(start..self.pos)?;
        self.pos += 1;
        Some(contents)
    }

    /// Skips one value of any kind and returns its raw text.
    fn value(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.pos;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => self.container()?,
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                ) {
                    self.pos += 1;
                }
            }
        }
        let raw = self.text.get(start..self.pos)?;
        (!raw.is_empty()).then_some(raw)
    }

    /// Skips a whole object or array, including nested ones and strings containing brackets.
    fn container(&mut self) -> Option<()> {
        let mut depth = 0_usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        self.pos += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESTIMATES: &str = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":100.0,"upper_bound":150.0},"point_estimate":123.4,"standard_error":1.2},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":120.5,"standard_error":0.5},"median_abs_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":0.1,"upper_bound":0.3},"point_estimate":0.2,"standard_error":0.01},"slope":null,"std_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":3.0,"upper_bound":4.0},"point_estimate":3.5,"standard_error":0.1}}"#;

    #[test]
    fn reads_the_median_not_the_mean() {
        assert_eq!(median_point_estimate(ESTIMATES), Some(120.5));
    }

    #[test]
    fn tolerates_whitespace_key_order_and_exponents() {
        let pretty = r#"
            { "slope" : null ,
              "median" : { "point_estimate" : 1.5e6 , "confidence_interval" : { "lower_bound" : 1 } }
            }"#;
        assert_eq!(median_point_estimate(pretty), Some(1_500_000.0));
    }

    #[test]
    fn ignores_look_alike_keys_in_strings_and_nested_objects() {
        let tricky = r#"{"note":"\"median\": {\"point_estimate\": 1} [}","mean":{"median":{"point_estimate":2}},"median":{"point_estimate":3}}"#;
        assert_eq!(median_point_estimate(tricky), Some(3.0));
    }

    #[test]
    fn missing_or_malformed_gives_none() {
        for text in [
            "",
            "{}",
            "[]",
            r#"{"mean":{"point_estimate":1.0}}"#,
            r#"{"median":{"point_estimate":null}}"#,
            r#"{"median":{"point_estimate":"fast"}}"#,
            r#"{"median":{"point_estimate":1.0"#,
            r#"{"median" {"point_estimate":1.0}}"#,
            r#"{"median":{"point_estimate":}}"#,
            r#"{"median":{"point_estimate":NaN}}"#,
            r#"{"unterminated:"#,
            "{\"é\":[}",
        ] {
            assert_eq!(median_point_estimate(text), None, "{text}");
        }
    }

    #[test]
    fn arrays_and_strings() {
        let rows = field(r#"{"rows":[{"a":1},{"a":[2,3]}, "x" ,null]}"#, "rows").unwrap();
        assert_eq!(
            items(rows),
            Some(vec![r#"{"a":1}"#, r#"{"a":[2,3]}"#, r#""x""#, "null"])
        );
        assert_eq!(items(" [ ] "), Some(vec![]));
        assert_eq!(items("[1,"), None);
        assert_eq!(string(r#""spawn_100k""#), Some("spawn_100k"));
        assert_eq!(string("null"), None);
    }
}
