//! The one way every command that sends a transaction takes its key: `--key HEX` (or the
//! `AIKERNEL_KEY` variable), or `--key-file PATH`, as `aikernel stake` and `aikernel node status`
//! do. `--private-key` and `AIKERNEL_PRIVATE_KEY`, `aikernel deploy`'s old spellings, still work.

use std::path::PathBuf;

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context as _, bail};
use clap::Args;

use crate::rpc::DEVNET_ADMIN_KEY;

/// The variable `aikernel deploy` read before the key options were made one.
const OLD_KEY_ENV: &str = "AIKERNEL_PRIVATE_KEY";

/// The signing key of a command that sends transactions.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Key")]
pub(crate) struct KeyArgs {
    /// Hex private key of the account that signs (and pays).
    #[arg(
        long,
        env = "AIKERNEL_KEY",
        hide_env_values = true,
        alias = "private-key"
    )]
    key: Option<String>,

    /// File holding the hex private key (as for `aikernel node run --key-file`); wins over
    /// --key.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The signer, when a key was given.
    pub(crate) fn signer(&self) -> anyhow::Result<Option<PrivateKeySigner>> {
        if let Some(path) = &self.key_file {
            return Ok(Some(aikernel_node::keys::from_file(path)?));
        }
        let key = self
            .key
            .clone()
            .or_else(|| std::env::var(OLD_KEY_ENV).ok().filter(|k| !k.is_empty()));
        key.map(|k| {
            k.trim()
                .parse()
                .context("--key / AIKERNEL_KEY is not a valid hex private key")
        })
        .transpose()
    }

    /// The signer, or an error saying how to give one.
    pub(crate) fn required(&self) -> anyhow::Result<PrivateKeySigner> {
        match self.signer()? {
            Some(s) => Ok(s),
            None => bail!(
                "this command sends a transaction: pass --key HEX (or set AIKERNEL_KEY) or \
                 --key-file PATH (on the devnet, anvil account #0 is the admin: \
                 {DEVNET_ADMIN_KEY})"
            ),
        }
    }
}
