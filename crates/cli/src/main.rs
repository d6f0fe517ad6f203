//! `aikernel`: the command-line interface to the AI kernel for Ethereum.
#![forbid(unsafe_code)]

fn main() {
    println!("aikernel {}", env!("CARGO_PKG_VERSION"));
}
