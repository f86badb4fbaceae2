//! The schema version and the migrations from older ones; the `meta` tree.

use super::*;

/// The schema this code reads and writes.
pub const SCHEMA_VERSION: u32 = 5;

/// The oldest schema this code migrates from (by rebuilding everything derived from entries).
pub const OLDEST_MIGRATABLE_SCHEMA: u32 = 1;

impl SledStore {
    /// The older schema found at open, which the node must migrate (rebuild) before use.
    pub fn needs_migration(&self) -> Option<u32> {
        self.migrate_from
    }

    /// Rewrites older quarantine values in the current format and stores the current schema
    /// version. Schema 1 values get the wait key `?`; schema 1 and 2 values get `now_ms` as
    /// their arrival in quarantine (the true one was not recorded), with its `q_since` row.
    /// Each value is rewritten with its row in one transaction, and the reader takes either
    /// format, so an interrupted migration is finished by the next open. For schema 1, the
    /// caller has rebuilt everything derived first. `trust` rows written before schema 5 get
    /// their entry's bytes.
    pub(crate) fn finish_migration(&mut self, now_ms: u64) -> Result<(), StoreError> {
        let schema1 = self.migrate_from == Some(1);
        for kv in self.trees[t::QUARANTINE].iter() {
            let (k, v) = kv.map_err(|e| err("quarantine", e))?;
            let Ok(h) = <[u8; 32]>::try_from(k.as_ref()).map(EntryHash) else {
                continue;
            };
            let (key, missing, bytes) = match self.split_any_quarantine(&v) {
                Some(parts)
                    if schema1 || quarantine::decode(&v).is_some_and(|q| q.since_ms.is_none()) =>
                {
                    parts
                }
                _ => continue,
            };
            let Ok(e) = Entry::decode(bytes) else {
                continue;
            };
            let nv = quarantine::encode(key, &String::from_utf8_lossy(missing), &e, now_ms, "");
            let sk = quarantine::since_key(now_ms, &h);
            let pair = [
                self.trees[t::QUARANTINE].clone(),
                self.trees[t::Q_SINCE].clone(),
            ];
            let r: Result<(), TransactionError<String>> = pair[..].transaction(|tx| {
                tx[0].insert(&k, nv.as_slice())?;
                tx[1].insert(sk.as_slice(), &[][..])?;
                Ok(())
            });
            r.map_err(|e| err("quarantine", format!("{e:?}")))?;
        }
        // Schema 4 retired two derived trees; emptying them is idempotent, so an interrupted
        // migration finishes at the next open.
        for i in t::RETIRED {
            self.trees[i].clear().map_err(|e| err(TREES[i], e))?;
        }
        // Schema 5 keeps the entry's bytes in its `trust` row; filling the rows left empty is
        // idempotent too.
        self.fill_trust_rows()?;
        self.trees[t::META]
            .insert("schema_version", &SCHEMA_VERSION.to_be_bytes())
            .map_err(|e| err("meta", e))?;
        self.migrate_from = None;
        self.durable()
    }

    /// Writes the entry's bytes into every `trust` row that has none (rows written before
    /// schema 5). One pass over the trust index: O(certificates), not O(records).
    fn fill_trust_rows(&self) -> Result<(), StoreError> {
        let trust = &self.trees[t::TRUST];
        for kv in trust.iter() {
            let (k, v) = kv.map_err(|e| err("trust", e))?;
            if !v.is_empty() {
                continue;
            }
            let Some(h) = k.get(8..40) else { continue };
            if let Some(bytes) = self.trees[t::ENTRIES]
                .get(h)
                .map_err(|e| err("entries", e))?
            {
                trust.insert(&k, bytes).map_err(|e| err("trust", e))?;
            }
        }
        Ok(())
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.trees[t::META]
            .get(key)
            .map_err(|e| err("meta", e))?
            .map(|v| v.to_vec()))
    }

    /// Sets a metadata value (durable on return).
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.trees[t::META]
            .insert(key, value)
            .map_err(|e| err("meta", e))?;
        self.durable()
    }

    /// Removes a metadata value (durable on return).
    pub fn remove_meta(&self, key: &str) -> Result<(), StoreError> {
        self.trees[t::META]
            .remove(key)
            .map_err(|e| err("meta", e))?;
        self.durable()
    }
}
