//! What a Ceph drill observes, from a client's vantage point: a writer that stores one object
//! per interval through librados and logs when each write was sent and acknowledged, and a
//! watcher that logs every OSDMap epoch (with the time the monitors stamped on it) and every
//! change of the PG state counts. Both are small programs over Debian's `python3-rados`
//! binding (the same library a kernel-less RBD client links), run as daemons in the drill's
//! client namespace; they print one JSON object per line, every time on `CLOCK_MONOTONIC`
//! (Python's `time.monotonic`), the clock [`now`] reads here, so the drill lines faults and
//! observations up without wall-clock arithmetic.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Debian's interpreter, which `python3-rados` is built for.
pub const PYTHON: &str = "/usr/bin/python3";

/// Writes one object of `argv[4]` bytes every `argv[3]` seconds to pool `argv[2]` (cluster
/// configuration `argv[1]`) until file `argv[5]` exists, without waiting for earlier writes
/// (a client with a queue, as an RBD client is). Each completion prints `{"n", "issued",
/// "acked", "rc"}`; at the stop it waits up to `argv[6]` seconds for the writes still out and
/// prints `{"stopped", "sent", "pending": [[n, issued]...]}`. librados' default is to wait for an OSD
/// forever (`rados_osd_op_timeout` 0), as RBD does, so a write that cannot complete stays
/// pending rather than failing.
const WRITER: &str = r#"import json, os, sys, threading, time
import rados
conf, pool, interval, size, stop, drain = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6])
cluster = rados.Rados(conffile=conf, conf={"client_mount_timeout": "30"})
cluster.connect()
io = cluster.open_ioctx(pool)
lock = threading.Lock()
done = set()
def emit(obj):
    with lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
def completion(n, issued):
    def cb(comp):
        acked = time.monotonic()
        with lock:
            done.add(n)
        emit({"n": n, "issued": issued, "acked": acked, "rc": comp.get_return_value()})
    return cb
payload = b"s" * size
emit({"started": time.monotonic()})
n = 0
start = time.monotonic()
comps, issued_at = [], []
while not os.path.exists(stop):
    issued = time.monotonic()
    issued_at.append(issued)
    comps.append(io.aio_write_full("w-%d" % n, payload, oncomplete=completion(n, issued)))
    n += 1
    time.sleep(max(0.0, start + n * interval - time.monotonic()))
deadline = time.monotonic() + drain
while time.monotonic() < deadline:
    with lock:
        if len(done) == n:
            break
    time.sleep(0.05)
with lock:
    pending = [[k, issued_at[k]] for k in range(n) if k not in done]
emit({"stopped": time.monotonic(), "sent": n, "pending": pending})
os._exit(0)
"#;

/// Polls the monitors every `argv[2]` seconds (configuration `argv[1]`) until file `argv[3]`
/// exists. Prints `{"t", "epoch", "stamp", "up", "in"}` for every new OSDMap epoch, where
/// `stamp` is the map's own `modified` time (set by the leader when it proposed the epoch)
/// moved onto the monotonic clock, and `{"t", "pgs": {state: count}, "degraded"}` whenever the PG state
/// counts or the degraded object copies (`degraded_objects`, 0 when the manager leaves it out)
/// change. The PG states come from the manager (`pg stat`), which hears from each OSD
/// every `mgr_stats_period` (the bed sets 1 s), so they lag the PGs by up to that much.
const WATCHER: &str = r#"import datetime, json, os, sys, time
import rados
conf, every, stop = sys.argv[1], float(sys.argv[2]), sys.argv[3]
cluster = rados.Rados(conffile=conf, conf={"client_mount_timeout": "30", "rados_mon_op_timeout": "10"})
cluster.connect()
def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
def stamp(text):
    wall = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    return wall - (time.time() - time.monotonic())
def find(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            got = find(v, key)
            if got is not None:
                return got
    return None
last_epoch, last_pgs = None, None
while not os.path.exists(stop):
    t = time.monotonic()
    ret, out, err = cluster.mon_command(json.dumps({"prefix": "osd dump", "format": "json"}), b"")
    if ret == 0:
        d = json.loads(out)
        if d["epoch"] != last_epoch:
            last_epoch = d["epoch"]
            emit({"t": t, "epoch": d["epoch"], "stamp": stamp(d["modified"]),
                  "up": [o["osd"] for o in d["osds"] if o["up"]],
                  "in": [o["osd"] for o in d["osds"] if o["in"]]})
    ret, out, err = cluster.mgr_command(json.dumps({"prefix": "pg stat", "format": "json"}), b"")
    if ret == 0:
        s = json.loads(out)
        pgs = {x["name"]: x["num"] for x in s["pg_summary"]["num_pg_by_state"]}
        degraded = find(s, "degraded_objects") or 0
        if (pgs, degraded) != last_pgs:
            last_pgs = (pgs, degraded)
            emit({"t": t, "pgs": pgs, "degraded": degraded})
    time.sleep(max(0.0, t + every - time.monotonic()))
os._exit(0)
"#;

/// The writer's command line (program and arguments).
pub fn writer_args(
    conf: &Path,
    pool: &str,
    interval: Duration,
    object_bytes: u64,
    stop: &Path,
    drain: Duration,
) -> Vec<String> {
    vec![
        "-c".into(),
        WRITER.into(),
        conf.display().to_string(),
        pool.into(),
        format!("{:.3}", interval.as_secs_f64()),
        object_bytes.to_string(),
        stop.display().to_string(),
        format!("{:.1}", drain.as_secs_f64()),
    ]
}

/// The watcher's command line.
pub fn watcher_args(conf: &Path, every: Duration, stop: &Path) -> Vec<String> {
    vec![
        "-c".into(),
        WATCHER.into(),
        conf.display().to_string(),
        format!("{:.3}", every.as_secs_f64()),
        stop.display().to_string(),
    ]
}

/// `CLOCK_MONOTONIC` now, in seconds: the clock the probes print.
pub fn now() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// One line of the writer's log.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum WriterLine {
    /// A write completed.
    Write {
        /// Its number.
        n: u64,
        /// When it was sent.
        issued: f64,
        /// When its completion ran.
        acked: f64,
        /// librados' return code (0, or a negative errno).
        rc: i64,
    },
    /// The writer connected and starts writing.
    Started {
        /// When.
        started: f64,
    },
    /// The writer stopped.
    Stopped {
        /// When.
        stopped: f64,
        /// Writes sent.
        sent: u64,
        /// Writes still without an answer: number and when sent.
        pending: Vec<(u64, f64)>,
    },
}

/// One line of the watcher's log.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum WatcherLine {
    /// A new OSDMap epoch.
    Map {
        /// When the watcher read it.
        t: f64,
        /// The epoch.
        epoch: u64,
        /// When the leader stamped it.
        stamp: f64,
        /// Up OSDs.
        up: Vec<i32>,
        /// In OSDs.
        #[serde(rename = "in")]
        inn: Vec<i32>,
    },
    /// New PG state counts.
    Pgs {
        /// When the watcher read them.
        t: f64,
        /// PGs per state name (`active+clean`, ...).
        pgs: std::collections::BTreeMap<String, u32>,
        /// Object copies the cluster counts degraded (missing from a replica it should be on).
        #[serde(default)]
        degraded: u64,
    },
}

/// The JSON lines of `log` that parse as `T`; other lines (Ceph's own messages on stderr)
/// are skipped.
pub fn parse_lines<T: for<'de> Deserialize<'de>>(log: &str) -> Vec<T> {
    log.lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lines_parse_and_noise_is_skipped() {
        let w: Vec<WriterLine> = parse_lines(
            "{\"started\": 1.5}\nnoise\n{\"n\": 0, \"issued\": 1.5, \"acked\": 1.6, \"rc\": 0}\n\
             {\"stopped\": 9.0, \"sent\": 2, \"pending\": [[1, 1.7]]}\n",
        );
        assert_eq!(
            w,
            vec![
                WriterLine::Started { started: 1.5 },
                WriterLine::Write {
                    n: 0,
                    issued: 1.5,
                    acked: 1.6,
                    rc: 0
                },
                WriterLine::Stopped {
                    stopped: 9.0,
                    sent: 2,
                    pending: vec![(1, 1.7)]
                },
            ]
        );
        let m: Vec<WatcherLine> = parse_lines(
            "{\"t\": 2.0, \"epoch\": 7, \"stamp\": 1.9, \"up\": [0, 2], \"in\": [0, 1, 2]}\n\
             {\"t\": 2.1, \"pgs\": {\"active+clean\": 33}}\n\
             {\"t\": 3.1, \"pgs\": {\"active+recovering\": 33}, \"degraded\": 41}\n",
        );
        assert!(matches!(&m[0], WatcherLine::Map { epoch: 7, up, .. } if up == &vec![0, 2]));
        assert!(
            matches!(&m[1], WatcherLine::Pgs { pgs, degraded: 0, .. } if pgs["active+clean"] == 33)
        );
        assert!(matches!(&m[2], WatcherLine::Pgs { degraded: 41, .. }));
    }

    #[test]
    fn monotonic_clock_moves_forward() {
        let a = now();
        let b = now();
        assert!(a > 0.0 && b >= a);
    }
}
