//! sangkien's core: entries, canonical encoding, signatures, the trust directory, records,
//! verification and verified import. Sans-IO: no sockets, no clock, no randomness, no disk.
//! Time is an argument (Unix milliseconds as `u64`); random bytes (Automerge actor ids, record
//! ids) are arguments; storage is reached through [`store::EntryStore`].
//!
//! # Driving it
//!
//! A node decodes bytes with [`entry::Entry::decode`] (bounds, canonical form, strict
//! signature), then passes a batch to [`import::import_batch`] with its store, its trust
//! directory, its own unit and its clock. The outcome says what to store (in one atomic write),
//! what waits in quarantine and what was rejected with which [`verify::RejectReason`].
//! [`audit::verify_record`] re-checks a stored record as a whole.
//!
//! ```
//! use ed25519_dalek::SigningKey;
//! use sync_protocol::{author::Author, entry::*, ids::*, import, store::*, text::Text};
//!
//! let root_key = SigningKey::from_bytes(&[7; 32]);
//! let root = UnitId::new("tld").unwrap();
//! let genesis = Genesis {
//!     root_unit: root.clone(),
//!     root_name: Text::required("name", "Tổng Liên đoàn Lao động Việt Nam", 200).unwrap(),
//!     root_key: UnitKey(root_key.verifying_key().to_bytes()),
//! };
//! let national = Author::new(genesis.federation_id(), root.clone(), root_key);
//! let g = national.sign(1_000, EntryBody::Genesis(genesis.clone()));
//! let mut directory = sync_protocol::directory::Directory::new(genesis, g.hash());
//! let mut store = MemStore::new();
//! let outcome = import::import_batch(&store, &mut directory, vec![g], None, 2_000).unwrap();
//! assert_eq!(outcome.accepted.len(), 1);
//! store.insert_batch(&outcome.accepted).unwrap();
//! assert_eq!(store.len().unwrap(), 1);
//! ```

pub mod audit;
pub mod author;
pub mod codec;
pub mod date;
pub mod directory;
pub mod entry;
pub mod ids;
pub mod import;
pub mod limits;
pub mod record;
pub mod scope;
pub mod store;
pub mod sync;
pub mod testkit;
pub mod text;
pub mod verify;
