//! The aikernel compute node daemon.
#![forbid(unsafe_code)]
