//! The operator's key: from a key file or an environment variable, never from the config.

use std::path::Path;

use alloy::signers::local::PrivateKeySigner;

use crate::NodeError;
use crate::config::NodeConfig;

/// Loads the signer named by the config (`key_file`, else the `key_env` variable).
pub fn load_signer(config: &NodeConfig) -> Result<PrivateKeySigner, NodeError> {
    if let Some(path) = &config.key_file {
        return from_file(path);
    }
    let text = std::env::var(&config.key_env).map_err(|_| {
        NodeError::Key(format!(
            "no key: set key_file in the config, pass --key-file, or export {}",
            config.key_env
        ))
    })?;
    parse(&text).map_err(|e| NodeError::Key(format!("${}: {e}", config.key_env)))
}

/// Reads a hex private key from the first line of `path`.
pub fn from_file(path: &Path) -> Result<PrivateKeySigner, NodeError> {
    let text = std::fs::read_to_string(path).map_err(|source| NodeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let line = text.lines().next().unwrap_or_default();
    parse(line).map_err(|e| NodeError::Key(format!("{}: {e}", path.display())))
}

/// Parses a 32-byte hex private key (with or without `0x`).
pub fn parse(text: &str) -> Result<PrivateKeySigner, String> {
    text.trim()
        .parse::<PrivateKeySigner>()
        .map_err(|_| "not a 32-byte hex private key".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_and_names_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.key");
        std::fs::write(
            &good,
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n",
        )
        .unwrap();
        let signer = from_file(&good).unwrap();
        assert_eq!(
            signer.address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "not a key").unwrap();
        let err = from_file(&bad).unwrap_err().to_string();
        assert!(
            err.contains("bad.key") && err.contains("private key"),
            "{err}"
        );
        let missing = from_file(&dir.path().join("none.key"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("none.key"), "{missing}");
    }
}
