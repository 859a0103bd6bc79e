//! Properties, not only examples: the planner and version ordering under proptest.

mod planner;
mod version;
