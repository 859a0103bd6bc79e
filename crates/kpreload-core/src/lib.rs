//! The pure core: plain data in, plain data out. No client, no terminal, no clock.

pub mod adopt;
pub mod cleanup;
pub mod edit;
pub mod findings;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod gitops;
pub mod natural;
pub mod node_detail;
pub mod nodepools;
pub mod objects;
pub mod payoff;
pub mod planner;
pub mod pools;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod render;
pub mod runtime;
pub mod selector;
pub mod sizing;
pub mod units;
pub mod version;
pub mod yaml_places;

#[cfg(test)]
mod props;
