//! Where the Foundry binaries installed by `scripts/setup.sh` live.

use std::path::PathBuf;

/// Path of a Foundry tool (`anvil`, `forge`, `cast`): `$AIKERNEL_FOUNDRY_BIN/<name>` when that
/// variable is set, else the repository's `.tools/bin/<name>` that `scripts/setup.sh` links.
pub fn foundry_bin(name: &str) -> PathBuf {
    match std::env::var_os("AIKERNEL_FOUNDRY_BIN") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../.tools/bin")
            .join(name),
    }
}
