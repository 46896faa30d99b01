//! The determinism rules, checked on the source text: nothing in the simulator may read a wall
//! clock, draw from an unseeded RNG, or use a std hash container (whose iteration order changes
//! from process to process). `sim/clippy.toml` enforces the same rules on types and calls
//! whenever clippy runs; this test also catches them under a plain `cargo test`. A justified
//! exception goes in [`ALLOWED`] with its reason, and carries an `#[allow]` in the code.

use std::path::{Path, PathBuf};

/// Names that give a run wall-clock time, unseeded randomness or hash order.
const FORBIDDEN: [&str; 9] = [
    "HashMap",
    "HashSet",
    "Instant",
    "SystemTime",
    "thread_rng",
    "ThreadRng",
    "OsRng",
    "rand::rng",
    "rand::random",
];

/// (file under `sim/src`, name, how many times, why it is safe).
const ALLOWED: [(&str, &str, usize, &str); 1] = [(
    "checks/linearizability/search.rs",
    "HashSet",
    3,
    "the search memo is only asked whether a (placed set, state) pair was seen; it is never \
     iterated, so hash order cannot reach any output",
)];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The code of `text` without `//` comments (doc comments may name what not to use).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Occurrences of `name` as a whole word (a path segment counts as a word).
fn count_word(text: &str, name: &str) -> usize {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name)
        .filter(|(at, _)| {
            let before = text[..*at].chars().next_back();
            let after = text[at + name.len()..].chars().next();
            !before.is_some_and(word) && !after.is_some_and(word)
        })
        .count()
}

fn findings(root: &Path) -> Vec<(String, &'static str, usize)> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    assert!(files.len() > 20, "found the sources: {files:?}");
    let mut found = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        let text = code(&std::fs::read_to_string(&file).expect("read source"));
        for name in FORBIDDEN {
            let n = count_word(&text, name);
            if n > 0 {
                found.push((rel.clone(), name, n));
            }
        }
    }
    found
}

#[test]
fn the_simulator_uses_no_clock_no_unseeded_rng_and_no_hash_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = findings(&root);
    let unexpected: Vec<_> = found
        .iter()
        .filter(|(file, name, n)| {
            !ALLOWED
                .iter()
                .any(|(f, a, count, _)| f == file && a == name && count == n)
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "non-deterministic names in sim/src (file, name, count): {unexpected:?}; use SimTime, \
         the run's RNG streams and BTreeMap/BTreeSet, or add a reasoned entry to ALLOWED"
    );
    // Every allow-list entry is still needed, so the list never hides a new use.
    for (file, name, count, why) in ALLOWED {
        assert!(!why.is_empty());
        assert!(
            found.contains(&(file.to_owned(), name, count)),
            "stale ALLOWED entry for {file}: {name} x{count}"
        );
    }
}

#[test]
fn the_scan_sees_what_it_must_forbid() {
    assert_eq!(
        count_word("let m: HashMap<u8, u8> = HashMap::new();", "HashMap"),
        2
    );
    assert_eq!(
        count_word("let t = std::time::Instant::now();", "Instant"),
        1
    );
    assert_eq!(count_word("let r = rand::rng();", "rand::rng"), 1);
    assert_eq!(
        count_word("let r = rand::rngs::StdRng::seed();", "rand::rng"),
        0
    );
    assert_eq!(count_word("MyHashMapLike", "HashMap"), 0);
    assert_eq!(code("x // HashMap in a comment").trim(), "x");
}
