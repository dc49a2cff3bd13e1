//! Keys and incarnations in the data dir (SPEC §3): made on first start, reused after.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hearsay_proto::Keypair;

/// Why the data dir could not be used; names the file.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file holds something else.
    #[error("{path}: {what}")]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Loads the key in `dir/key`, or makes one from the OS's randomness and stores it there.
pub fn load_or_create_key(dir: &Path) -> Result<Keypair, IdentityError> {
    let path = dir.join("key");
    match fs::read_to_string(&path) {
        Ok(text) => {
            let mut secret = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut secret).map_err(|_| IdentityError::Bad {
                path: path.clone(),
                what: "not a key: expected 64 hex digits".into(),
            })?;
            Ok(Keypair::from_secret(secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io(dir))?;
            let key = Keypair::from_secret(rand::random());
            write_private(&path, &format!("{}\n", hex::encode(key.secret())))?;
            Ok(key)
        }
        Err(e) => Err(io(&path)(e)),
    }
}

/// A key for a node that keeps no identity (a peer on port 0 is a new node at every start).
pub fn ephemeral_key() -> Keypair {
    Keypair::from_secret(rand::random())
}

/// Reads `dir/incarnation`, adds one, stores it and returns it (1 on first start).
pub fn next_incarnation(dir: &Path) -> Result<u64, IdentityError> {
    let path = dir.join("incarnation");
    let last = match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u64>().map_err(|_| IdentityError::Bad {
            path: path.clone(),
            what: "not an incarnation number".into(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io(&path)(e)),
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let next = last + 1;
    fs::write(&path, format!("{next}\n")).map_err(io(&path))?;
    Ok(next)
}

fn write_private(path: &Path, text: &str) -> Result<(), IdentityError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hearsay-id-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_key_is_made_once_and_reused() {
        let dir = scratch("key");
        let a = load_or_create_key(&dir).unwrap();
        let b = load_or_create_key(&dir).unwrap();
        assert_eq!(a.id(), b.id());
        fs::write(dir.join("key"), "nonsense").unwrap();
        let err = load_or_create_key(&dir).unwrap_err().to_string();
        assert!(
            err.contains("key") && err.contains("64 hex digits"),
            "{err}"
        );
    }

    #[test]
    fn incarnations_grow_across_starts() {
        let dir = scratch("inc");
        assert_eq!(next_incarnation(&dir).unwrap(), 1);
        assert_eq!(next_incarnation(&dir).unwrap(), 2);
    }
}
