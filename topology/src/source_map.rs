//! Where each value of a YAML document sits in its file.
//!
//! serde tells us *what* is wrong but, once deserialised, the model has no positions. Semantic
//! checks (duplicate names, overlapping subnets...) therefore name a field by its path
//! (`spec.hosts[2].name`) and this index turns the path back into a byte span, so every
//! diagnostic can underline the exact value in the user's file.

use std::collections::BTreeMap;

use serde_saphyr::granit_parser::{Event, Parser};

/// A byte range in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSpan {
    /// Offset of the first byte.
    pub offset: usize,
    /// Length in bytes (at least 1 so a label always shows).
    pub len: usize,
}

/// Positions of the keys and values of one document, by dotted path.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    values: BTreeMap<String, ByteSpan>,
    keys: BTreeMap<String, ByteSpan>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

impl SourceMap {
    /// Indexes `text`. A document that does not parse yields a partial map; the YAML error
    /// itself is reported by the deserialiser.
    pub fn build(text: &str) -> SourceMap {
        let mut map = SourceMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let offset = byte_offset(text, span.start.index(), span.start.byte_offset());
            let end = byte_offset(text, span.end.index(), span.end.byte_offset());
            let here = ByteSpan {
                offset,
                len: end.saturating_sub(offset).max(1),
            };
            match event {
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Map { path, key }) = stack.last_mut()
                        && key.is_none()
                    {
                        let k = child(path, &value);
                        map.keys.insert(k.clone(), here);
                        *key = Some(k);
                        continue;
                    }
                    if let Some(p) = map.node_path(&mut stack) {
                        map.values.insert(p, here);
                    }
                }
                Event::Alias(_) => {
                    if let Some(p) = map.node_path(&mut stack) {
                        map.values.insert(p, here);
                    }
                }
                Event::MappingStart(..) => {
                    let path = map.node_path(&mut stack).unwrap_or_default();
                    map.values.entry(path.clone()).or_insert(here);
                    stack.push(Frame::Map { path, key: None });
                }
                Event::SequenceStart(..) => {
                    let path = map.node_path(&mut stack).unwrap_or_default();
                    map.values.entry(path.clone()).or_insert(here);
                    stack.push(Frame::Seq { path, index: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        map
    }

    /// The path of the node that starts now, advancing the parent's key/index cursor.
    fn node_path(&self, stack: &mut [Frame]) -> Option<String> {
        match stack.last_mut()? {
            Frame::Map { key, .. } => key.take(),
            Frame::Seq { path, index } => {
                let p = format!("{path}[{index}]");
                *index += 1;
                Some(p)
            }
        }
    }

    /// Span of the value at `path`, falling back to its key, then to the nearest ancestor
    /// that exists (a missing field is reported at the mapping that lacks it).
    pub fn locate(&self, path: &str) -> Option<ByteSpan> {
        let mut p = path;
        loop {
            if let Some(s) = self.values.get(p).or_else(|| self.keys.get(p)) {
                return Some(*s);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// Span of the key of the mapping entry at `path`.
    pub fn key_span(&self, path: &str) -> Option<ByteSpan> {
        self.keys.get(path).copied()
    }

    /// Everything `path` covers in the text: its key, its value and, for a mapping or a
    /// sequence, every key and value below it.
    pub fn extent(&self, path: &str) -> Option<ByteSpan> {
        let below = |p: &str| {
            p == path
                || p.strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        };
        let spans = self
            .values
            .iter()
            .chain(self.keys.iter())
            .filter(|(p, _)| below(p))
            .map(|(_, s)| *s);
        let (start, end) = spans.fold(None, |acc: Option<(usize, usize)>, s| {
            let (a, b) = (s.offset, s.offset + s.len);
            Some(acc.map_or((a, b), |(x, y)| (x.min(a), y.max(b))))
        })?;
        Some(ByteSpan {
            offset: start,
            len: end - start,
        })
    }

    /// The innermost path whose key or value covers `offset`.
    pub fn path_at(&self, offset: usize) -> Option<String> {
        let covers = |s: &ByteSpan| s.offset <= offset && offset < s.offset + s.len;
        self.values
            .iter()
            .chain(self.keys.iter())
            .filter(|(_, s)| covers(s))
            .min_by_key(|(p, s)| (s.len, std::cmp::Reverse(p.len())))
            .map(|(p, _)| p.clone())
    }
}

/// The parser reports character offsets and, for string input, byte offsets; prefer bytes.
fn byte_offset(text: &str, chars: usize, bytes: Option<usize>) -> usize {
    bytes.unwrap_or_else(|| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(b, _)| b)
    })
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_values_and_sequence_items() {
        let text = "spec:\n  hosts:\n    - name: a\n      address: 10.0.0.1\n    - name: b\n";
        let map = SourceMap::build(text);
        let span = map.locate("spec.hosts[1].name").expect("indexed");
        assert_eq!(&text[span.offset..span.offset + span.len], "b");
        assert_eq!(line_col(text, span.offset), (5, 13));
        // An unknown field's error points at its key; the key must map back to its path.
        let key = text.find("address").expect("in text");
        assert_eq!(map.path_at(key).as_deref(), Some("spec.hosts[0].address"));
    }

    #[test]
    fn missing_path_falls_back_to_nearest_ancestor() {
        let text = "spec:\n  hosts: []\n";
        let map = SourceMap::build(text);
        let span = map.locate("spec.hosts[3].name").expect("ancestor");
        assert_eq!(&text[span.offset..span.offset + 2], "[]");
    }
}
