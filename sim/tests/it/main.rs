//! The simulator's integration tests as one binary (one link instead of one per file): each
//! module was a test file of its own. `crush_support` holds the CRUSH tests' shared maps and
//! the `crushtool` runner.

mod apiserver_model;
mod ceph_model;
mod ceph_recovery;
mod crush_differential;
mod crush_ln_tables;
mod crush_no_panic;
mod crush_props;
mod crush_support;
mod crush_text;
mod engine_determinism;
mod engine_determinism_rules;
mod engine_html_chromium;
mod engine_isolation;
mod engine_planted_bug;
mod engine_world;
mod etcd_model;
mod etcd_seed_scenarios;
mod etcd_session;
mod explore_cases;
mod kube_support;
mod leader_election;
mod linearizability;
mod linearizability_prop;
mod node_lifecycle;
mod rados_session;
mod services;
mod vip_model;
mod workloads;
