//! Every bound on outside input, in one place.
//!
//! Each limit is checked before anything is allocated for the thing it bounds: a length prefix
//! is compared with its limit before the body is read. Relations between limits are compile-time
//! assertions at the bottom of this file.

/// Largest encoded entry, signature included. An initiative's full Mẫu 4 description fits well
/// inside; attachments are separate blobs and never travel inside an entry.
pub const MAX_ENTRY_BYTES: usize = 1024 * 1024 + 4096;

/// Largest Automerge change carried by one entry, uncompressed. Checked on the raw bytes before
/// Automerge parses them, and on the decompressed size when a compressed chunk is normalised.
pub const MAX_CHANGE_BYTES: usize = 1024 * 1024;

/// Most Automerge heads a decision or projection may cite (concurrent branches of one record).
pub const MAX_HEADS_COUNT: usize = 64;

/// Longest unit id, in bytes (ASCII `[a-z0-9-]`).
pub const MAX_UNIT_ID_BYTES: usize = 64;

/// Longest unit name, in characters (after NFC normalisation).
pub const MAX_UNIT_NAME_CHARS: usize = 200;

/// Longest initiative or programme title, in characters.
pub const MAX_TITLE_CHARS: usize = 300;

/// Longest effect summary of an initiative, in characters.
pub const MAX_SUMMARY_CHARS: usize = 2_000;

/// Longest section of the Mẫu 4 description (current state, solution, novelty, scope,
/// effectiveness), in characters.
pub const MAX_DESCRIPTION_SECTION_CHARS: usize = 20_000;

/// Longest short text field: a person's name, an officer's title, a decision number, a reward.
pub const MAX_SHORT_TEXT_CHARS: usize = 200;

/// Longest free note on a decision or revocation, in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;

/// Most authors of one initiative (a group initiative may have many members).
pub const MAX_AUTHORS_COUNT: usize = 50;

/// Most attachments of one initiative.
pub const MAX_ATTACHMENTS_COUNT: usize = 50;

/// Largest attachment blob, in bytes. Checked against the file's size before it is read in.
pub const MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;

/// Most phases of one programme.
pub const MAX_PHASES_COUNT: usize = 16;

/// Most deadlines or campaigns of one programme.
pub const MAX_DEADLINES_COUNT: usize = 32;

/// Most child assignments in one target record.
pub const MAX_TARGET_ASSIGNMENTS_COUNT: usize = 2_000;

/// Largest target count or benefit value accepted (well above any real figure; keeps sums in
/// `u64` far from overflow: 2.5 million initiatives of this value still fit).
pub const MAX_BENEFIT_VND: u64 = 1_000_000_000_000_000;

/// Largest count a target may assign.
pub const MAX_TARGET_COUNT: u64 = 100_000_000;

/// How far in the future of the verifier's clock an entry may be dated.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// Most entries accepted in one import batch (one bundle, one sync round).
pub const MAX_BATCH_ENTRIES: usize = 100_000;

/// Most entries a node keeps in quarantine waiting for a certificate or a dependency.
pub const MAX_QUARANTINE_ENTRIES: usize = 100_000;

/// Most bytes of entries a node keeps in quarantine: with [`MAX_QUARANTINE_ENTRIES`], bounds
/// the disk one can fill with entries that wait (entries may be up to [`MAX_ENTRY_BYTES`]).
pub const MAX_QUARANTINE_BYTES: usize = 512 * 1024 * 1024;

/// The share of the quarantine one source (one signing key, certified or not) may hold: a
/// tenth. Over it, that source's newcomers are refused; and when the whole quarantine is full,
/// the largest source gives up its newest entry to a smaller source's newcomer, so one key's
/// flood never refuses another's entry.
pub const QUARANTINE_SOURCE_SHARE_DIVISOR: usize = 10;

/// Most entries one source holds in quarantine ([`QUARANTINE_SOURCE_SHARE_DIVISOR`]).
pub const MAX_QUARANTINE_SOURCE_ENTRIES: usize =
    MAX_QUARANTINE_ENTRIES / QUARANTINE_SOURCE_SHARE_DIVISOR;

/// Most bytes one source holds in quarantine ([`QUARANTINE_SOURCE_SHARE_DIVISOR`]).
pub const MAX_QUARANTINE_SOURCE_BYTES_STORED: usize =
    MAX_QUARANTINE_BYTES / QUARANTINE_SOURCE_SHARE_DIVISOR;

/// Longest an entry waits in quarantine, in milliseconds (30 days); older ones expire with a
/// logged reason (DESIGN §9.10: nothing waits forever). What an entry waits for is in its
/// sender's store and travels at the sender's next session or bundle: a day when links work,
/// a week or two when a district office is cut off (floods, Tết) or sends bundles by hand.
/// 30 days covers a monthly reporting round with margin. Expiry loses nothing for good: the
/// peer still holds the entry and we do not, so reconciliation offers it again, and it waits
/// anew (counted from its new arrival) if what it needs is still missing.
pub const MAX_QUARANTINE_AGE_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// Most records the persistent log of expired quarantine entries keeps for the operator
/// (`sangkien node quarantine`); beyond it, the oldest record goes.
pub const MAX_QUARANTINE_EXPIRED_LOG_ENTRIES: usize = 10_000;

/// Longest label of where a quarantined entry came from (a peer's unit, a bundle's file name),
/// in bytes; a longer label is cut at a character boundary.
pub const MAX_QUARANTINE_SOURCE_BYTES: usize = 255;

/// Largest file of entries read by `import` (a bundle).
pub const MAX_BUNDLE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Largest content of a bundle once inflated (its entries with their length prefixes). The
/// header's announced size is checked against it before anything is inflated, and the inflating
/// reader stops there, so a small file cannot expand in memory past it. Bundles hold at most
/// [`MAX_BATCH_ENTRIES`] entries; a district's yearly export is tens of megabytes.
pub const MAX_BUNDLE_INFLATED_BYTES: u64 = 512 * 1024 * 1024;

/// Largest sync message (one QUIC frame), in bytes. Entries are split across messages so that
/// any single entry fits.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Most ranges in one reconciliation message.
pub const MAX_RANGES_COUNT: usize = 131_072;

/// Most entry ids (16-byte hash prefixes) listed in one reconciliation message.
pub const MAX_IDS_COUNT: usize = 200_000;

/// Most entries in one sync message.
pub const MAX_MESSAGE_ENTRIES: usize = 10_000;

/// Most hashes one peer may have outstanding in wants towards us: bounds the work one peer
/// can cause.
pub const MAX_OUTSTANDING_WANTS: usize = 200_000;

/// Most decompressed signing keys a [`crate::entry::KeyCache`] keeps before it starts over:
/// a national node's ingest meets about 130,000 units' keys, most batches far fewer.
pub const MAX_KEY_CACHE_COUNT: usize = 8_192;

// ---- Sync sessions over the network: bounded work per peer, fair to the rest (issue 12) ----

/// Longest a sync session may last in all, in milliseconds, counted from its start; no message
/// extends it. A session cut at this bound loses nothing: what it imported is stored, and the
/// next session reconciles what is left. Ten minutes carries a province's first full sync of
/// tens of thousands of entries over a slow link in one or a few sessions.
pub const MAX_SESSION_DURATION_MS: u64 = 10 * 60 * 1000;

/// Longest a session may go without progress from the peer, in milliseconds: a message that
/// moves the session on (the first hello, ranges, wants, entries, done). A repeated hello is
/// not progress and resets nothing.
pub const MAX_SESSION_IDLE_MS: u64 = 60 * 1000;

/// Most sessions a node answers at once (peers that connect to it), over all peers. A peer
/// that connects while they are all taken is told the node is busy and retries later.
pub const MAX_ANSWERED_SESSIONS_COUNT: usize = 16;

/// Most sessions a node answers at once for one peer unit: a second connection from a unit
/// whose session is in progress is told the node is busy, so one member cannot take the
/// slots of others.
pub const MAX_SESSIONS_PER_PEER_COUNT: usize = 1;

/// Most sessions a node runs at once towards its configured peers (as initiator).
pub const MAX_DIALED_SESSIONS_COUNT: usize = 4;

/// Most bytes one session holds received but not yet imported: the message being prepared and
/// the one being read. A message whose length would take it over waits until what is held has
/// been imported.
pub const MAX_SESSION_BUFFERED_BYTES: usize = 2 * MAX_MESSAGE_BYTES;

/// Most bytes all sessions together hold received but not yet imported. Reserved from the
/// length prefix before a message's body is read; a session that cannot reserve imports what it
/// holds first, then waits (within its deadline), so sessions never wait on each other in a
/// circle.
pub const MAX_BUFFERED_BYTES_TOTAL: usize = 64 * 1024 * 1024;

/// Most changes one record may have. A record is an initiative, a programme or a target,
/// edited a handful of times by its owner (each save is one change); verifying a change reads
/// the record's entries, so this bounds the work one entry can cause. Over it, a change is
/// refused with its reason.
pub const MAX_RECORD_CHANGES: usize = 2_000;

/// Most record documents an import keeps loaded between entries of one batch, so that a
/// record's changes are applied to one document, each once (least recently used goes first).
pub const MAX_CACHED_RECORD_DOCS: usize = 64;

// ---- The web interface (node::web) ---------------------------------------------------------

/// Largest HTTP request body the web interface reads: its forms are a few text fields (an
/// initiative's Mẫu 1 with its sections stays far below). Over it the request is refused before
/// the body is read.
pub const MAX_WEB_FORM_BYTES: usize = 256 * 1024;

/// Most officer sessions a node keeps at once; over it the oldest session ends.
pub const MAX_WEB_SESSIONS_COUNT: usize = 1_000;

/// Seconds of inactivity after which an officer's session ends (default; `web_session_idle_s`
/// in node.toml may shorten it).
pub const WEB_SESSION_IDLE_S: u64 = 30 * 60;

/// Seconds after which an officer's session ends whatever its activity.
pub const WEB_SESSION_MAX_S: u64 = 12 * 60 * 60;

/// Failed logins of one account (or from one address, times four) before it is locked out.
pub const MAX_LOGIN_FAILURES_COUNT: u32 = 5;

/// Seconds an account (or address) stays locked out after too many failed logins.
pub const LOGIN_LOCKOUT_S: u64 = 15 * 60;

/// Most accounts or addresses whose failed logins are remembered at once (the oldest goes).
pub const MAX_LOGIN_TRACKED_COUNT: usize = 10_000;

/// Shortest officer password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Longest officer password, in characters (argon2id hashes any length; this bounds the work).
pub const MAX_PASSWORD_CHARS: usize = 200;

/// Longest officer login name, in bytes (a-z, 0-9, '.', '-', '_').
pub const MAX_LOGIN_BYTES: usize = 64;

/// Most officer accounts one node holds.
pub const MAX_OFFICER_ACCOUNTS_COUNT: usize = 1_000;

/// Initiatives on one page of the web interface's list.
pub const WEB_PAGE_ROWS_COUNT: usize = 25;

/// Largest page the web interface sends, in bytes before compression (a goal its tests check).
pub const MAX_WEB_PAGE_BYTES: usize = 100 * 1024;

const _: () = assert!(MIN_PASSWORD_CHARS < MAX_PASSWORD_CHARS);
const _: () = assert!(WEB_SESSION_IDLE_S <= WEB_SESSION_MAX_S);

// ---- The web inbox and the initiative form (node::web::initiatives, node::decisions) -------

/// Most decisions one "several at once" action of the inbox makes (one signed entry each,
/// verified together and stored in one sled transaction, one fsync). A form naming more is
/// refused whole before anything is signed.
pub const MAX_DECISIONS_PER_BATCH_COUNT: usize = 100;

/// Most files one submission of the initiative form carries (each at most
/// [`MAX_ATTACHMENT_BYTES`]; an initiative holds at most [`MAX_ATTACHMENTS_COUNT`] in all).
pub const MAX_WEB_UPLOAD_FILES_COUNT: usize = 5;

/// Largest body of the initiative form with its files, in bytes. The declared length is
/// checked before a byte of the body is read; over it the form is refused whole with the
/// limit named. It lets one file of the largest size through with the form's text fields.
pub const MAX_WEB_UPLOAD_BYTES: usize = 32 * 1024 * 1024;

/// Most parts (fields and files) one multipart form of the web interface may have: the
/// initiative form has about 70 fields at most authors. Over it the form is refused whole.
pub const MAX_WEB_FORM_PARTS_COUNT: usize = 300;

/// Longest header block of one part of a multipart form, in bytes (its name and file name).
pub const MAX_WEB_PART_HEADER_BYTES: usize = 2 * 1024;

const _: () = assert!(MAX_DECISIONS_PER_BATCH_COUNT <= MAX_BATCH_ENTRIES);
const _: () = assert!(MAX_WEB_UPLOAD_FILES_COUNT <= MAX_ATTACHMENTS_COUNT);
const _: () = assert!(MAX_ATTACHMENT_BYTES as usize + MAX_WEB_FORM_BYTES <= MAX_WEB_UPLOAD_BYTES);
// ---- end of the web inbox and initiative form limits ----
// ---- web pages: targets, Mẫu 2, reports -----------------------------------------------------

/// Largest file the web interface builds in memory to send (a Mẫu 2 bundle), in bytes; a larger
/// list's bundle is refused there with a pointer to `sangkien list mau2 --out FILE`, which
/// writes it to disk. Well under [`MAX_BUNDLE_BYTES`], which a bundle may reach.
pub const MAX_WEB_DOWNLOAD_BYTES: u64 = 64 * 1024 * 1024;

const _: () = assert!(MAX_WEB_DOWNLOAD_BYTES < MAX_BUNDLE_BYTES);

/// Largest enrolment or rotation request file (`sangkien unit request`), in bytes: a few short
/// lines (unit id, name, role, parent, key, signatures); the name is at most
/// `MAX_UNIT_NAME_CHARS` characters of at most 4 bytes each.
pub const MAX_ENROLMENT_REQUEST_BYTES: u64 = 4 * 1024;

/// Largest certificate file the parent hands back for a request (`unit enrol --request`): the
/// federation file and the child's chain of certificates, each at most a few hundred bytes.
pub const MAX_ENROLMENT_ANSWER_BYTES: u64 = 256 * 1024;

/// Most certificates a node presents inside its QUIC identity (its chain: the certificates of
/// itself and its ancestors in force, and those they replaced), so that a peer which has not
/// yet received a rotation can check the new key. A national tree is 4 levels deep.
pub const MAX_PRESENTED_TRUST_ENTRIES: usize = 16;

/// Largest re-organisation plan file read, in bytes. The plan of the July 2025 reform (new
/// commune unions, commune and district lines, province merges) is under 1 MiB; a plan that
/// also names every one of ~127,000 grassroots unions fits with room to spare.
pub const MAX_PLAN_BYTES: u64 = 16 * 1024 * 1024;

/// Most lines in a re-organisation plan (bounds the steps planned before anything is signed).
pub const MAX_PLAN_LINES_COUNT: usize = 500_000;

const _: () = assert!(MAX_CHANGE_BYTES < MAX_ENTRY_BYTES);
const _: () = assert!(MAX_ENTRY_BYTES + 64 < MAX_MESSAGE_BYTES);
const _: () = assert!(MAX_IDS_COUNT * 16 < MAX_MESSAGE_BYTES);
const _: () = assert!(MAX_RANGES_COUNT * 24 < MAX_MESSAGE_BYTES);
const _: () = assert!(MAX_HEADS_COUNT * 32 < MAX_ENTRY_BYTES);
const _: () = assert!(MAX_QUARANTINE_ENTRIES >= MAX_BATCH_ENTRIES);
const _: () = assert!(MAX_QUARANTINE_SOURCE_BYTES_STORED > MAX_ENTRY_BYTES);
const _: () = assert!(MAX_QUARANTINE_SOURCE_ENTRIES >= 1);
const _: () = assert!(MAX_ENTRY_BYTES as u64 + 8 < MAX_BUNDLE_INFLATED_BYTES);
const _: () = assert!(MAX_QUARANTINE_AGE_MS > MAX_CLOCK_SKEW_MS);
const _: () = assert!(MAX_QUARANTINE_SOURCE_BYTES <= u8::MAX as usize);
const _: () = assert!((MAX_BENEFIT_VND as u128) * 2_500_000 < u64::MAX as u128 * 1000);
const _: () = assert!(MAX_SESSION_IDLE_MS < MAX_SESSION_DURATION_MS);
const _: () = assert!(MAX_SESSIONS_PER_PEER_COUNT <= MAX_ANSWERED_SESSIONS_COUNT);
const _: () = assert!(MAX_SESSION_BUFFERED_BYTES >= MAX_MESSAGE_BYTES);
const _: () = assert!(MAX_BUFFERED_BYTES_TOTAL >= MAX_SESSION_BUFFERED_BYTES);
const _: () = assert!(MAX_BUFFERED_BYTES_TOTAL <= u32::MAX as usize);

/// Most initiatives one page of a listing or a search returns (`--limit`): a page is loaded
/// and verified record by record, so its cost grows with this, never with the store.
pub const MAX_PAGE_ITEMS_COUNT: usize = 1_000;
/// Initiatives per page when `--limit` is not given.
pub const DEFAULT_PAGE_ITEMS_COUNT: usize = 50;
/// Highest page number accepted (`--page`): a listing finds its page by subtree counts, a
/// search or filter by walking the matches before it.
pub const MAX_PAGE_NUMBER: u64 = 10_000_000;

const _: () = assert!(MAX_PLAN_LINES_COUNT as u64 <= MAX_PLAN_BYTES);

// ---- members' self-registration page (node/src/web/register.rs) -------------------------

/// Largest body of the self-registration form (`POST /register`), refused before it is read
/// whole: the form has about ten short fields, so far less than [`MAX_WEB_FORM_BYTES`].
pub const MAX_SELF_REGISTRATION_FORM_BYTES: usize = 32 * 1024;
/// Most characters of the worker's contact (phone or e-mail) on the self-registration form.
pub const MAX_CONTACT_CHARS: usize = 100;
/// Co-authors the self-registration form takes besides the worker.
pub const SELF_REGISTRATION_COAUTHORS_COUNT: usize = 2;
/// The window the self-registration limits count in.
pub const SELF_REGISTRATION_WINDOW_S: u64 = 60 * 60;
/// Most self-registration forms (good or bad) one client address may send in a window.
pub const MAX_SELF_REGISTRATIONS_PER_ADDRESS_COUNT: u32 = 10;
/// Most self-registration forms the node takes from everyone in a window.
pub const MAX_SELF_REGISTRATIONS_PER_WINDOW_COUNT: u32 = 200;
/// Most client addresses the self-registration limiter tracks (the oldest go first).
pub const MAX_SELF_REGISTRATION_TRACKED_COUNT: usize = 10_000;

const _: () = assert!(MAX_SELF_REGISTRATION_FORM_BYTES < MAX_WEB_FORM_BYTES);
const _: () =
    assert!(MAX_SELF_REGISTRATIONS_PER_ADDRESS_COUNT <= MAX_SELF_REGISTRATIONS_PER_WINDOW_COUNT);
