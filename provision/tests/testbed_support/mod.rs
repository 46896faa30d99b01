//! What the namespace test binaries share: a test bed, or a loud skip where network
//! namespaces are not permitted (never under CI, which must not pass without the real proof),
//! and the Debian tools they run.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use provision::drill::EtcdLab;
use provision::testbed::{NetnsError, Testbed};

/// A test bed with `hosts`, or `None` after a loud notice where namespaces are not permitted
/// and `CI` is not set; under CI that is a failure.
pub fn testbed_or_skip(hosts: &[&str]) -> Option<Testbed> {
    match Testbed::new(hosts) {
        Ok(bed) => Some(bed),
        Err(NetnsError::NotPermitted { detail })
            if EtcdLab::may_skip_without_netns(std::env::var("CI").ok().as_deref()) =>
        {
            eprintln!(
                "\n*** SKIPPED: network namespaces are not permitted here ({detail}); \
                 this test needs root or CAP_SYS_ADMIN ***\n"
            );
            None
        }
        Err(e) => panic!("creating the test bed: {e}"),
    }
}

/// The path of `program` from the Debian package `package`, or a panic saying to install it.
pub fn debian_tool(program: &str, package: &str) -> PathBuf {
    testkit::tool(program, &format!("the Debian package `{package}`"))
}
