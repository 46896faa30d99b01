//! Provision's integration tests that start no daemon and no VM, as one binary (one link
//! instead of one per file). The ones that start etcd, sshd, network namespaces or VMs stay
//! binaries of their own (`etcd_cluster`, `inject_testbed`, `lab_down`, `lab_e2e`,
//! `lab_transport`, `testbed`), so each can be run, timed and cleaned up alone.

mod apply_plan;
mod etcd_pki_render;
mod lab_render;
mod lab_workstation;
mod render_tools;
mod render_tree;
