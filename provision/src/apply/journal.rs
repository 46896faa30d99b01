//! The apply journal on the operator's machine: one JSON line per step event, appended and
//! flushed before the step acts, so a killed apply leaves a record of where it stopped. The
//! next apply reads it to say so; it then checks every step again before acting (the host is
//! the truth, the journal is the story), which is what makes resuming safe after anything.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What happened to a step (or a run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// An apply run began.
    RunStarted,
    /// A step is about to act.
    Started,
    /// A step's changes are made and its phase gate passed.
    Verified,
    /// A step could not run here (reason in `detail`).
    Skipped,
    /// A step failed (error in `detail`).
    Failed,
    /// An apply run ended with every step verified or skipped.
    RunFinished,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Run number, from 1.
    pub run: u64,
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// The step (`phase/host`), empty for run events.
    pub step: String,
    /// What happened.
    pub event: Event,
    /// Reason or error text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// How the previous run ended, if it did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// Its run number.
    pub run: u64,
    /// Steps it started but never verified, in journal order.
    pub unfinished: Vec<String>,
    /// Steps it verified.
    pub verified: usize,
}

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
#[error("apply journal {path}: {source}")]
pub struct JournalError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    #[source]
    pub source: std::io::Error,
}

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    run: u64,
    previous: Option<Interrupted>,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Reads `path`'s entries; a line that does not parse (a write cut short by a kill) is
/// ignored.
pub fn read(path: &Path) -> Result<Vec<Entry>, JournalError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(JournalError {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|source| JournalError {
            path: path.to_owned(),
            source,
        })?;
        if let Ok(e) = serde_json::from_str::<Entry>(&line) {
            out.push(e);
        }
    }
    Ok(out)
}

/// How the last run in `entries` ended, if it was interrupted.
pub fn interrupted(entries: &[Entry]) -> Option<Interrupted> {
    let last = entries.iter().map(|e| e.run).max()?;
    let run: Vec<&Entry> = entries.iter().filter(|e| e.run == last).collect();
    if run.iter().any(|e| e.event == Event::RunFinished) {
        return None;
    }
    let done = |step: &str| {
        run.iter().any(|e| {
            e.step == step && matches!(e.event, Event::Verified | Event::Skipped | Event::Failed)
        })
    };
    let mut unfinished: Vec<String> = Vec::new();
    for e in &run {
        if e.event == Event::Started && !done(&e.step) && !unfinished.contains(&e.step) {
            unfinished.push(e.step.clone());
        }
    }
    Some(Interrupted {
        run: last,
        unfinished,
        verified: run.iter().filter(|e| e.event == Event::Verified).count(),
    })
}

impl Journal {
    /// Opens (creating) the journal at `path` and starts a new run.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let err = |source| JournalError {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let entries = read(path)?;
        let previous = interrupted(&entries);
        let run = entries.iter().map(|e| e.run).max().unwrap_or(0) + 1;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        // A line torn by a kill is ended, so this run's first entry stands on its own line.
        let torn = std::fs::read(path)
            .map_err(err)?
            .last()
            .is_some_and(|b| *b != b'\n');
        if torn {
            file.write_all(b"\n").map_err(err)?;
        }
        let mut j = Journal {
            path: path.to_owned(),
            file,
            run,
            previous,
        };
        j.record("", Event::RunStarted, "")?;
        Ok(j)
    }

    /// The previous run, when it was interrupted.
    pub fn previous(&self) -> Option<&Interrupted> {
        self.previous.as_ref()
    }

    /// This run's number.
    pub fn run(&self) -> u64 {
        self.run
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event and flushes it to disk before returning.
    pub fn record(&mut self, step: &str, event: Event, detail: &str) -> Result<(), JournalError> {
        let entry = Entry {
            run: self.run,
            at: now_unix(),
            step: step.to_owned(),
            event,
            detail: detail.to_owned(),
        };
        let mut line = serde_json::to_string(&entry).map_err(|e| JournalError {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|source| JournalError {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_run_names_its_started_steps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apply").join("lab.jsonl");
        let mut j = Journal::open(&path).unwrap();
        assert!(j.previous().is_none());
        j.record("prepare/a", Event::Started, "").unwrap();
        j.record("prepare/a", Event::Verified, "").unwrap();
        j.record("etcd/a", Event::Started, "").unwrap();
        drop(j);
        // A torn last line (killed mid-write) is ignored.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"run\":1,\"at\"")
            .unwrap();
        let mut j = Journal::open(&path).unwrap();
        let prev = j.previous().unwrap().clone();
        assert_eq!((prev.run, prev.verified), (1, 1));
        assert_eq!(prev.unfinished, ["etcd/a"]);
        assert_eq!(j.run(), 2);
        j.record("", Event::RunFinished, "").unwrap();
        drop(j);
        assert!(Journal::open(&path).unwrap().previous().is_none());
    }
}
