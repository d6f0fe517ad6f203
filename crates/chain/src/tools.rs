//! Finding the Foundry binaries (`anvil`, `forge`, `cast`) at run time.
//!
//! In order: the folder named by `AIKERNEL_FOUNDRY_BIN`, then `PATH`, then, for a binary or
//! test run from inside a checkout, the `.tools/bin` that `scripts/setup.sh` fills, found by
//! walking up from the executable and from the working directory. Nothing is compiled in, so an
//! installed `aikernel` works wherever Foundry is installed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The environment variable naming the folder that holds `anvil`, `forge` and `cast`.
pub const FOUNDRY_BIN_ENV: &str = "AIKERNEL_FOUNDRY_BIN";

/// A Foundry binary was found nowhere it is looked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoundryError {
    /// `AIKERNEL_FOUNDRY_BIN` is set but the binary is not in that folder.
    #[error(
        "{name} not found in {dir} (from {FOUNDRY_BIN_ENV}): point {FOUNDRY_BIN_ENV} at the folder that holds Foundry's {name}, or unset it to use PATH"
    )]
    NotInEnvDir {
        /// The binary (`anvil`, ...).
        name: String,
        /// The folder the variable names.
        dir: PathBuf,
    },
    /// Neither `PATH` nor a checkout's `.tools/bin` has the binary.
    #[error(
        "{name} not found: set {FOUNDRY_BIN_ENV} to the folder that holds Foundry's binaries, or put {name} on PATH (in a checkout, ./scripts/setup.sh installs them into .tools/bin)"
    )]
    NotFound {
        /// The binary (`anvil`, ...).
        name: String,
    },
}

/// Path of a Foundry binary (`anvil`, `forge`, `cast`): `$AIKERNEL_FOUNDRY_BIN/<name>` when
/// that variable is set, else `<name>` on `PATH`, else a checkout's `.tools/bin/<name>` above
/// the running executable or the working directory.
pub fn foundry_bin(name: &str) -> Result<PathBuf, FoundryError> {
    let env_dir = std::env::var_os(FOUNDRY_BIN_ENV).filter(|d| !d.is_empty());
    let path = std::env::var_os("PATH");
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().ok();
    let starts: Vec<&Path> = exe.iter().chain(cwd.iter()).map(PathBuf::as_path).collect();
    find(name, env_dir.as_deref(), path.as_deref(), &starts)
}

/// [`foundry_bin`] over explicit inputs: the variable's value, `PATH`'s value and the folders
/// to walk up from looking for `.tools/bin`.
fn find(
    name: &str,
    env_dir: Option<&OsStr>,
    path: Option<&OsStr>,
    starts: &[&Path],
) -> Result<PathBuf, FoundryError> {
    if let Some(dir) = env_dir {
        let candidate = Path::new(dir).join(name);
        return if candidate.is_file() {
            Ok(candidate)
        } else {
            Err(FoundryError::NotInEnvDir {
                name: name.to_owned(),
                dir: PathBuf::from(dir),
            })
        };
    }
    let on_path = path
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name));
    let in_checkout = starts
        .iter()
        .flat_map(|start| start.ancestors())
        .map(|dir| dir.join(".tools/bin").join(name));
    on_path
        .chain(in_checkout)
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| FoundryError::NotFound {
            name: name.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder tree `root/{env,onpath,repo/.tools/bin,repo/target/debug}` with `anvil` in the
    /// folders named.
    fn tree(with: &[&str]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for dir in ["env", "onpath", "repo/.tools/bin", "repo/target/debug"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        for dir in with {
            std::fs::write(root.path().join(dir).join("anvil"), b"").unwrap();
        }
        root
    }

    #[test]
    fn the_variable_wins_and_must_hold_the_binary() {
        let t = tree(&["env", "onpath"]);
        let env = t.path().join("env");
        let path = t.path().join("onpath");
        let found = find("anvil", Some(env.as_os_str()), Some(path.as_os_str()), &[]);
        assert_eq!(found.unwrap(), env.join("anvil"));
        let err = find("forge", Some(env.as_os_str()), Some(path.as_os_str()), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("forge not found in") && err.contains(FOUNDRY_BIN_ENV),
            "{err}"
        );
    }

    #[test]
    fn path_comes_before_the_checkout() {
        let t = tree(&["onpath", "repo/.tools/bin"]);
        let path =
            std::env::join_paths([t.path().join("nothing"), t.path().join("onpath")]).unwrap();
        let exe = t.path().join("repo/target/debug/aikernel");
        let found = find("anvil", None, Some(&path), &[&exe]).unwrap();
        assert_eq!(found, t.path().join("onpath/anvil"));
    }

    #[test]
    fn a_checkout_is_found_above_the_executable() {
        let t = tree(&["repo/.tools/bin"]);
        let exe = t.path().join("repo/target/debug/aikernel");
        let found = find("anvil", None, None, &[&exe]).unwrap();
        assert_eq!(found, t.path().join("repo/.tools/bin/anvil"));
    }

    #[test]
    fn nothing_found_names_both_ways() {
        let t = tree(&[]);
        let exe = t.path().join("repo/target/debug/aikernel");
        let err = find("anvil", None, Some(t.path().as_os_str()), &[&exe])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(FOUNDRY_BIN_ENV) && err.contains("PATH"),
            "{err}"
        );
    }
}
