//! A seed's durable store (SPEC §5 "Convergence and durability", PROTOCOL §13): the
//! certificates it applied and the seed keys it learned, in one redb file in its data dir.
//!
//! Certificates are keyed by (peer, operation), so the store holds at most two per peer: its
//! newest admission and its newest removal, which is all a seed needs to rebuild its Peer
//! List and tombstones. Every write is one transaction committed with redb's default
//! durability (fsync) before the node sends anything that depends on it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hearsay_proto::cert::{Certificate, Op};
use hearsay_proto::node::Record;
use hearsay_proto::{wire, PeerId};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

/// The store's file name in the seed's data dir.
pub const FILE: &str = "store.redb";
/// The layout this build writes and reads.
const FORMAT: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// (peer id, 0 = add / 1 = remove) → the certificate, postcard-encoded.
const CERTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("certificates");
/// A seed's configured address, as text → its key.
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("seed_keys");

/// Why the store cannot be used. The message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct StoreError {
    /// The store file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// What a store held when it was opened.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Seed keys, by configured address.
    pub keys: Vec<(SocketAddr, PeerId)>,
    /// Certificates, in key order.
    pub certs: Vec<Certificate>,
}

/// An open store.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

impl Store {
    /// Opens the store in `dir` (creating it when there is none) and reads all it holds.
    /// A file that cannot be read, or was written in another layout, is an error; the file
    /// is left as it is.
    pub fn open(dir: &Path) -> Result<(Store, Loaded), StoreError> {
        let path = dir.join(FILE);
        let fail = |reason: String| StoreError {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create its folder: {e}")))?;
        let fresh = !path.exists();
        let db = Database::create(&path).map_err(|e| fail(format!("cannot open it: {e}")))?;
        let store = Store {
            db,
            path: path.clone(),
        };
        if fresh {
            store
                .init()
                .map_err(|e| fail(format!("cannot set it up: {e}")))?;
        }
        let loaded = store.load().map_err(fail)?;
        Ok((store, loaded))
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&self) -> Result<(), redb::Error> {
        let tx = self.db.begin_write()?;
        tx.open_table(META)?.insert("format", FORMAT)?;
        tx.open_table(CERTS)?;
        tx.open_table(KEYS)?;
        tx.commit()?;
        Ok(())
    }

    fn load(&self) -> Result<Loaded, String> {
        let tx = self.db.begin_read().map_err(|e| e.to_string())?;
        let meta = tx
            .open_table(META)
            .map_err(|e| format!("not a hearsay seed store ({e})"))?;
        let format = meta.get("format").map_err(|e| e.to_string())?;
        match format.map(|v| v.value()) {
            Some(FORMAT) => {}
            Some(v) => return Err(format!("layout version {v}; this build reads {FORMAT}")),
            None => return Err("no layout version: not a hearsay seed store".into()),
        }
        let mut out = Loaded::default();
        let keys = tx.open_table(KEYS).map_err(|e| e.to_string())?;
        for row in keys.iter().map_err(|e| e.to_string())? {
            let (addr, id) = row.map_err(|e| e.to_string())?;
            let addr: SocketAddr = (addr.value().parse())
                .map_err(|_| format!("a seed key under a bad address {:?}", addr.value()))?;
            let id: [u8; 32] = (id.value().try_into())
                .map_err(|_| format!("the seed key of {addr} is not 32 bytes"))?;
            out.keys.push((addr, PeerId(id)));
        }
        let certs = tx.open_table(CERTS).map_err(|e| e.to_string())?;
        for row in certs.iter().map_err(|e| e.to_string())? {
            let (key, value) = row.map_err(|e| e.to_string())?;
            let cert: Certificate = wire::decode(value.value())
                .map_err(|e| format!("a certificate that does not decode: {e}"))?;
            if key.value() != cert_key(&cert) {
                return Err(format!(
                    "a certificate of {} filed under another key",
                    cert.change.peer
                ));
            }
            out.certs.push(cert);
        }
        Ok(out)
    }

    /// Writes these records in one transaction and makes it durable.
    pub fn write(&self, records: &[Record]) -> Result<(), StoreError> {
        let fail = |e: redb::Error| StoreError {
            path: self.path.clone(),
            reason: format!("cannot write: {e}"),
        };
        let tx = self.db.begin_write().map_err(|e| fail(e.into()))?;
        {
            let mut certs = tx.open_table(CERTS).map_err(|e| fail(e.into()))?;
            let mut keys = tx.open_table(KEYS).map_err(|e| fail(e.into()))?;
            for r in records {
                match r {
                    Record::Certificate(c) => {
                        let value = wire::encode(c);
                        certs
                            .insert(cert_key(c).as_slice(), value.as_slice())
                            .map_err(|e| fail(e.into()))?;
                    }
                    Record::SeedKey { addr, id } => {
                        keys.insert(addr.to_string().as_str(), id.0.as_slice())
                            .map_err(|e| fail(e.into()))?;
                    }
                }
            }
        }
        tx.commit().map_err(|e| fail(e.into()))
    }

    /// Moves an unreadable store aside (to `store.redb.broken-<unix secs>`), so that the
    /// seed can start empty and rebuild from the other seeds. Returns where it went.
    pub fn move_aside(dir: &Path) -> std::io::Result<Option<PathBuf>> {
        let path = dir.join(FILE);
        if !path.exists() {
            return Ok(None);
        }
        let secs = crate::now().0 / 1000;
        let to = dir.join(format!("{FILE}.broken-{secs}"));
        std::fs::rename(&path, &to)?;
        Ok(Some(to))
    }
}

fn cert_key(c: &Certificate) -> [u8; 33] {
    let mut k = [0; 33];
    k[..32].copy_from_slice(&c.change.peer.0);
    k[32] = match c.change.op {
        Op::Add => 0,
        Op::Remove => 1,
    };
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearsay_proto::cert::{Change, Vote};
    use hearsay_proto::Keypair;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hearsay-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn cert(peer: u8, op: Op, incarnation: u64) -> Certificate {
        let change = Change {
            op,
            peer: Keypair::from_secret([peer; 32]).id(),
            addr: SocketAddr::from(([127, 0, 0, 1], 7000 + u16::from(peer))),
            incarnation,
        };
        let votes: Vec<Vote> = (1..=2u8)
            .map(|s| Vote::new(&Keypair::from_secret([s; 32]), change, true, ""))
            .collect();
        Certificate::from_votes(change, &votes)
    }

    #[test]
    fn what_is_written_is_read_back_newest_per_peer_and_operation() {
        let d = dir("roundtrip");
        let (store, loaded) = Store::open(&d).unwrap();
        assert!(loaded.keys.is_empty() && loaded.certs.is_empty());
        let seed = SocketAddr::from(([127, 0, 0, 1], 6000));
        let key = Keypair::from_secret([9; 32]).id();
        let records = [
            Record::Certificate(cert(1, Op::Add, 1)),
            Record::Certificate(cert(1, Op::Remove, 1)),
            Record::SeedKey {
                addr: seed,
                id: key,
            },
        ];
        store.write(&records).unwrap();
        store
            .write(&[
                Record::Certificate(cert(1, Op::Add, 2)),
                Record::Certificate(cert(2, Op::Add, 1)),
            ])
            .unwrap();
        drop(store);
        let (_, loaded) = Store::open(&d).unwrap();
        assert_eq!(loaded.keys, [(seed, key)]);
        let mut want = vec![
            cert(1, Op::Add, 2),
            cert(1, Op::Remove, 1),
            cert(2, Op::Add, 1),
        ];
        want.sort_by_key(cert_key);
        assert_eq!(loaded.certs, want);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_truncated_store_is_an_error_naming_the_file_and_is_left_alone() {
        let d = dir("truncated");
        let (store, _) = Store::open(&d).unwrap();
        store
            .write(&[Record::Certificate(cert(1, Op::Add, 1))])
            .unwrap();
        drop(store);
        let path = d.join(FILE);
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len / 2).unwrap();
        drop(f);
        let e = Store::open(&d).unwrap_err();
        assert_eq!(e.path, path);
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len / 2);
        let aside = Store::move_aside(&d).unwrap().unwrap();
        assert!(aside.exists() && !path.exists());
        let (_, loaded) = Store::open(&d).unwrap();
        assert!(loaded.certs.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_that_is_not_a_store_or_of_another_layout_is_an_error() {
        let d = dir("garbage");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(FILE), b"certainly not a database").unwrap();
        let e = Store::open(&d).unwrap_err();
        assert!(e.reason.contains("cannot open it"), "{e}");
        std::fs::remove_file(d.join(FILE)).unwrap();

        let (store, _) = Store::open(&d).unwrap();
        let tx = store.db.begin_write().unwrap();
        tx.open_table(META).unwrap().insert("format", 99).unwrap();
        tx.commit().unwrap();
        drop(store);
        let e = Store::open(&d).unwrap_err();
        assert!(e.reason.contains("layout version 99"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
