//! The protocol values every aikernel crate agrees on, in one small crate without alloy:
//!
//! - [`PromptStatus`], [`MemberState`] and [`NodeStatus`]: the `uint8` states the contracts
//!   report (`IAIKernel.Status`, `memberState`, `GPUManagement.NodeStatus`), tied to the
//!   Solidity sources by a test;
//! - [`content`]: the content root of model files (a sha256 Merkle tree over fixed-size
//!   chunks), the value `ModelFileSystem` records and every node verifies downloads against.
//!
//! Two copies of a protocol rule are two protocols: other crates import these instead of
//! restating them.
#![forbid(unsafe_code)]

pub mod content;
mod status;

pub use status::{MemberState, NodeStatus, PromptStatus, UnknownValue};
