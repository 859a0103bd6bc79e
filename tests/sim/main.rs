//! Everything against simulated clusters, started in-process and reached over HTTP like any
//! cluster: kpreload's commands, kube-rs and real kubectl as clients; the TUI's update step
//! and its snapshots; the bad-input corpus; the docs and the JSON contracts.

#[path = "../support/registry.rs"]
mod local_registry;
#[path = "../support/mod.rs"]
mod support;

mod apply;
mod bad_input;
mod check;
mod cleanup;
mod cli;
mod docs;
mod edit;
mod kube_client;
mod kubectl_api;
mod kubectl_render;
mod kubelet;
mod node_runtime;
mod paging;
mod plugin;
mod pull_bytes;
mod rbac;
mod registry;
mod render;
mod shards;
mod status;
mod tui;
mod watch_faults;
