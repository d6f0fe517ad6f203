//! Files in and out: an input file or standard input (`-`), and output files written
//! safely: never over an input, never half-written in place.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context as _, bail};
use tempfile::NamedTempFile;

/// The bytes of `path`, or of standard input for `-`.
pub(crate) fn read_file_or_stdin(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .context("reading standard input")?;
        return Ok(bytes);
    }
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Whether `a` and `b` name the same file: the same path after resolving symlinks, or the
/// same inode (hard links too) on Unix. `false` when `b` does not exist.
pub(crate) fn same_file(a: &Path, b: &Path) -> std::io::Result<bool> {
    let Ok(b_meta) = fs::metadata(b) else {
        return Ok(false);
    };
    let a_meta = fs::metadata(a)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (a_meta.dev(), a_meta.ino()) == (b_meta.dev(), b_meta.ino()) {
            return Ok(true);
        }
    }
    let _ = (a_meta, b_meta);
    Ok(a.canonicalize()? == b.canonicalize()?)
}

/// Refuses an output that is the input (writing it would destroy the input while it is
/// still being read).
pub(crate) fn refuse_same(input: &Path, output: &Path) -> anyhow::Result<()> {
    let same = same_file(input, output).with_context(|| {
        format!(
            "comparing the input {} with the output {}",
            input.display(),
            output.display()
        )
    })?;
    if same {
        bail!(
            "the output {} is the input {} (the same file); write to another path",
            output.display(),
            input.display()
        );
    }
    Ok(())
}

/// Writes `path` through `write`: into a temporary file in the same folder, renamed over
/// `path` only when `write` and the flush succeed. On failure `path` is left as it was and
/// the temporary file is removed.
pub(crate) fn write_replacing<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut NamedTempFile>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".aikernel-").suffix(".partial");
    // What File::create gives (before the umask), not the temporary file's 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let tmp_path = tmp.path().to_owned();
    let value = {
        let mut w = BufWriter::new(&mut tmp);
        let value = write(&mut w)?;
        w.flush()
            .with_context(|| format!("writing {}", tmp_path.display()))?;
        value
    };
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("syncing {}", tmp_path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("moving the output into place at {}", path.display()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_sees_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        fs::write(&a, b"x").unwrap();
        assert!(same_file(&a, &a).unwrap());
        fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(same_file(&a, &dir.path().join("sub/../a")).unwrap());
        assert!(!same_file(&a, &dir.path().join("missing")).unwrap());
        let b = dir.path().join("b");
        fs::write(&b, b"x").unwrap();
        assert!(!same_file(&a, &b).unwrap());
        #[cfg(unix)]
        {
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&a, &link).unwrap();
            assert!(same_file(&a, &link).unwrap());
            let hard = dir.path().join("hard");
            fs::hard_link(&a, &hard).unwrap();
            assert!(same_file(&a, &hard).unwrap());
        }
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::write(&out, b"old").unwrap();
        let err = write_replacing(&out, |w| -> anyhow::Result<()> {
            w.write_all(b"half")?;
            bail!("quantizing failed")
        })
        .unwrap_err();
        assert!(err.to_string().contains("quantizing failed"));
        assert_eq!(fs::read(&out).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        write_replacing(&out, |w| Ok(w.write_all(b"new")?)).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
