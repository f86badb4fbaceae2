//! Officers' writes: creating and editing records, projecting confidential initiatives,
//! deciding. Each builds entries with the core and stores them through [`Node::write`], the
//! verified path; nothing is stored when a rule refuses them.

use rand_core::{OsRng, RngCore};
use sync_protocol::audit::{verify_record, RecordReport};
use sync_protocol::entry::{Binding, Decision, DecisionKind, EntryBody, RecordChange, RecordKind};
use sync_protocol::ids::{EntryHash, RecordId};
use sync_protocol::record::{self, RecordContent};
use sync_protocol::store::EntryLookup;
use sync_protocol::text::Text;
use sync_protocol::verify::changes_of;

use crate::node::{Node, NodeError};

fn refused(e: impl std::fmt::Display) -> NodeError {
    NodeError::Refused(e.to_string())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A fresh commitment salt for a confidential initiative.
pub fn new_salt() -> [u8; 32] {
    random_bytes()
}

/// Creates a record owned by this node's unit. Returns its id.
pub fn create(
    node: &mut Node,
    content: &RecordContent,
    now_ms: u64,
) -> Result<RecordId, NodeError> {
    record::validate_standalone(content).map_err(refused)?;
    let record = RecordId(random_bytes());
    let mut doc = record::new_document(random_bytes());
    let change = record::commit_content(&mut doc, content, now_ms)
        .map_err(refused)?
        .ok_or_else(|| refused("empty record"))?;
    let (kind, confidential) = kind_of(content);
    node.write(
        EntryBody::RecordChange(RecordChange {
            record,
            kind,
            owner: node.unit().clone(),
            confidential,
            change,
        }),
        now_ms,
    )?;
    if let RecordContent::Initiative(i) = content {
        if i.confidential {
            project(node, record, now_ms)?;
        }
    }
    Ok(record)
}

/// Edits a record this node's unit owns: `edit` changes the current content; only changed
/// fields are written. Returns whether anything changed.
pub fn edit(
    node: &mut Node,
    record: RecordId,
    edit: impl FnOnce(&mut RecordContent),
    now_ms: u64,
) -> Result<bool, NodeError> {
    let report = check(node, record, now_ms)?;
    let header = report
        .header
        .clone()
        .ok_or_else(|| refused(format!("record {} is not held here", record.short())))?;
    let mut content = report
        .content
        .clone()
        .ok_or_else(|| refused(format!("record {} has no content here", record.short())))?;
    edit(&mut content);
    record::validate_standalone(&content).map_err(refused)?;
    let entries = node.store().record_entries(&record)?;
    let mut doc = record::load_document(changes_of(&entries).into_values(), random_bytes())
        .map_err(refused)?;
    let Some(change) = record::commit_content(&mut doc, &content, now_ms).map_err(refused)? else {
        return Ok(false);
    };
    node.write(
        EntryBody::RecordChange(RecordChange {
            record,
            kind: header.kind,
            owner: header.owner,
            confidential: header.confidential,
            change,
        }),
        now_ms,
    )?;
    if header.confidential {
        project(node, record, now_ms)?;
    }
    Ok(true)
}

/// Writes the public projection of a confidential initiative at its current state.
pub fn project(node: &mut Node, record: RecordId, now_ms: u64) -> Result<EntryHash, NodeError> {
    let report = check(node, record, now_ms)?;
    let Some(RecordContent::Initiative(i)) = &report.content else {
        return Err(refused("only an initiative held here can be projected"));
    };
    let p = record::projection(i, record, report.current_heads.clone())
        .ok_or_else(|| refused("a confidential initiative needs a commitment salt"))?;
    Ok(node.write(EntryBody::Projection(p), now_ms)?.hash())
}

/// Records a decision on an initiative as this node's unit: it binds to the state held here
/// (current heads, or the latest projection of a confidential initiative) and cites the last
/// decision of the chain.
pub fn decide(
    node: &mut Node,
    record: RecordId,
    kind: DecisionKind,
    officer_name: Text,
    officer_title: Text,
    note: Text,
    now_ms: u64,
) -> Result<EntryHash, NodeError> {
    let report = check(node, record, now_ms)?;
    let header = report
        .header
        .clone()
        .ok_or_else(|| refused(format!("record {} is not held here", record.short())))?;
    if header.kind != RecordKind::Initiative {
        return Err(refused("decisions are made on initiatives"));
    }
    if !report.conflicts.is_empty() {
        return Err(refused(
            "the decision chain of this initiative forks; resolve the conflict first",
        ));
    }
    let binding = if header.confidential {
        Binding::Projection(
            report
                .latest_projection
                .ok_or_else(|| refused("no public projection of this initiative is held here"))?,
        )
    } else {
        Binding::Heads(report.current_heads.clone())
    };
    let entry = node.write(
        EntryBody::Decision(Decision {
            record,
            kind,
            binding,
            previous: report.status.as_ref().map(|s| s.2),
            officer_name,
            officer_title,
            note,
        }),
        now_ms,
    )?;
    Ok(entry.hash())
}

/// Verifies a record as held here.
pub fn check(node: &Node, record: RecordId, now_ms: u64) -> Result<RecordReport, NodeError> {
    Ok(verify_record(
        node.store(),
        node.directory(),
        record,
        Some(node.unit()),
        now_ms,
    )?)
}

fn kind_of(c: &RecordContent) -> (RecordKind, bool) {
    match c {
        RecordContent::Initiative(i) => (RecordKind::Initiative, i.confidential),
        RecordContent::Programme(_) => (RecordKind::Programme, false),
        RecordContent::Target(_) => (RecordKind::Target, false),
    }
}
