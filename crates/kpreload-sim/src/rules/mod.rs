//! What Kubernetes does, written here from its documentation, for the simulated control
//! plane and kubelets: image references as the runtime normalises them ([`reference`]),
//! label selectors ([`labels`]) and where a pod may run ([`placement`]). kpreload's own
//! code has its own versions of these rules; the simulator must not share them, or a bug in
//! one would pass every test that uses the other. `agreement.rs` (a test) holds a table both must agree on.

pub mod labels;
pub mod placement;
pub mod reference;

#[cfg(test)]
mod agreement;
