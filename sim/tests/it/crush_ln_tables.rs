//! Our computed `crush_ln` lookup tables must equal the ones compiled into
//! the installed Ceph library (`libceph-common.so.2`, Debian `librados2`,
//! pulled in by `ceph-base`), entry for entry.
//!
//! The tables are found in the library's read-only data by their first
//! non-trivial entries, then all 258 + 256 little-endian `i64`s compared.

use sim::models::ceph::crush::ln::{LL_LEN, LL_TBL, RH_LH_LEN, RH_LH_TBL};

const LIB_PATHS: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/ceph/libceph-common.so.2",
    "/usr/lib/aarch64-linux-gnu/ceph/libceph-common.so.2",
];

fn find_table(lib: &[u8], table: &[i64], anchor_index: usize) -> Option<Vec<i64>> {
    let anchor = table[anchor_index].to_le_bytes();
    let at = lib.windows(8).position(|w| w == anchor)?;
    let start = at.checked_sub(anchor_index * 8)?;
    let bytes = lib.get(start..start + table.len() * 8)?;
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
    )
}

#[test]
fn ln_tables_equal_installed_ceph() {
    let path = LIB_PATHS.iter().find(|p| std::path::Path::new(p).exists()).unwrap_or_else(|| {
        panic!("libceph-common.so.2 not found: install the Debian package `ceph-base` (it pulls in librados2)")
    });
    let lib = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    // Entry 2 of each table is the first that cannot occur by accident.
    let rh = find_table(&lib, &RH_LH_TBL, 2).expect("__RH_LH_tbl not found in libceph-common");
    let ll = find_table(&lib, &LL_TBL, 2).expect("__LL_tbl not found in libceph-common");
    assert_eq!(rh.len(), RH_LH_LEN);
    assert_eq!(ll.len(), LL_LEN);
    for (i, (ours, theirs)) in RH_LH_TBL.iter().zip(&rh).enumerate() {
        assert_eq!(
            ours, theirs,
            "__RH_LH_tbl[{i}]: ours {ours:#x}, Ceph {theirs:#x}"
        );
    }
    for (i, (ours, theirs)) in LL_TBL.iter().zip(&ll).enumerate() {
        assert_eq!(
            ours, theirs,
            "__LL_tbl[{i}]: ours {ours:#x}, Ceph {theirs:#x}"
        );
    }
}
