//! The protocol's security as numbers.
//!
//! A committee of `k` nodes is drawn from a pool of `N` equally staked nodes, `A = round(f N)`
//! of them the adversary's. Under the current rule a round-0 committee settles only when every
//! revealed output agrees; any disagreement escalates to a fresh committee of `e` nodes that
//! decides by strict majority. This crate computes, exactly:
//!
//! - the probability a prompt settles a wrong answer, under the new rule (for an adversary
//!   that always lies and for a rational one that lies only when it pays) and under the old
//!   rule (a strict majority of round 0 settles);
//! - the attacker's expected profit per prompt over answering honestly;
//! - the smallest stake that makes every partial attack unprofitable (capture of every
//!   round-0 seat is not deterred by stake, only by committee size);
//! - guessing against computing, for an individual node.
//!
//! [`montecarlo`] checks the formulas by drawing real committees with a seeded PRNG.
//! docs/security.md states the model and its assumptions.
#![forbid(unsafe_code)]

pub mod hypergeom;
pub mod model;
pub mod montecarlo;
pub mod params;
pub mod report;

pub use model::{Analysis, analyse};
pub use montecarlo::{DEFAULT_SEED, Simulation, simulate};
pub use params::{Param, ParamError, Params, Resolved};
pub use report::{Report, TableRow, report, table};
