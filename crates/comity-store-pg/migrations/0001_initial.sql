-- Comity's PostgreSQL store, schema version 1: the same records as the sled
-- backend, as tables. Text is compared byte by byte (COLLATE "C"), so every
-- ORDER BY gives the order sled's keys give. Seqs are BIGINT (u64 below 2^63).

-- The logs.
CREATE TABLE entries (
    origin  TEXT COLLATE "C" NOT NULL,
    seq     BIGINT NOT NULL,
    id      BYTEA NOT NULL UNIQUE,
    -- The encoded comity.v1.Entry.
    body    BYTEA NOT NULL,
    -- The order entries arrived in, across origins: what indexes are rebuilt in.
    arrival BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    -- The rule that must never break: one entry per (origin, seq).
    PRIMARY KEY (origin, seq)
);

-- Each origin's head, and its Merkle tree as a compact range (moved in the
-- append's transaction, so they always agree). Appends lock this row.
CREATE TABLE heads (
    origin TEXT COLLATE "C" PRIMARY KEY,
    seq    BIGINT NOT NULL,
    hash   BYTEA NOT NULL,
    tree   BYTEA NOT NULL
);

CREATE TABLE equivocations (
    origin   TEXT COLLATE "C" NOT NULL,
    seq      BIGINT NOT NULL,
    -- JSON of comity_store::Equivocation.
    evidence BYTEA NOT NULL,
    PRIMARY KEY (origin, seq)
);

CREATE TABLE frozen (
    origin TEXT COLLATE "C" PRIMARY KEY
);

-- Derived indexes (rules::index_rows), dropped and rebuilt by rebuild_indexes.
CREATE TABLE documents (
    kind   SMALLINT NOT NULL,
    origin TEXT COLLATE "C" NOT NULL,
    uuid   TEXT COLLATE "C" NOT NULL,
    seq    BIGINT NOT NULL,
    PRIMARY KEY (kind, origin, uuid)
);

CREATE TABLE revisions (
    kind   SMALLINT NOT NULL,
    origin TEXT COLLATE "C" NOT NULL,
    uuid   TEXT COLLATE "C" NOT NULL,
    seq    BIGINT NOT NULL,
    PRIMARY KEY (kind, origin, uuid, seq)
);

CREATE TABLE profiles (
    origin TEXT COLLATE "C" PRIMARY KEY,
    seq    BIGINT NOT NULL
);

CREATE TABLE responses (
    c_origin TEXT COLLATE "C" NOT NULL,
    c_uuid   TEXT COLLATE "C" NOT NULL,
    origin   TEXT COLLATE "C" NOT NULL,
    seq      BIGINT NOT NULL,
    PRIMARY KEY (c_origin, c_uuid, origin, seq)
);

CREATE TABLE replies (
    l_origin TEXT COLLATE "C" NOT NULL,
    l_uuid   TEXT COLLATE "C" NOT NULL,
    origin   TEXT COLLATE "C" NOT NULL,
    uuid     TEXT COLLATE "C" NOT NULL,
    seq      BIGINT NOT NULL,
    PRIMARY KEY (l_origin, l_uuid, origin, uuid)
);

CREATE TABLE receipts (
    l_origin TEXT COLLATE "C" NOT NULL,
    l_uuid   TEXT COLLATE "C" NOT NULL,
    arrival  BIGINT NOT NULL,
    origin   TEXT COLLATE "C" NOT NULL,
    seq      BIGINT NOT NULL,
    PRIMARY KEY (l_origin, l_uuid, arrival)
);

CREATE TABLE recipients (
    org    TEXT COLLATE "C" NOT NULL,
    origin TEXT COLLATE "C" NOT NULL,
    uuid   TEXT COLLATE "C" NOT NULL,
    seq    BIGINT NOT NULL,
    PRIMARY KEY (org, origin, uuid)
);

CREATE TABLE keys (
    origin TEXT COLLATE "C" PRIMARY KEY,
    seq    BIGINT NOT NULL,
    key    BYTEA NOT NULL
);

CREATE TABLE attachments (
    hash   BYTEA NOT NULL,
    origin TEXT COLLATE "C" NOT NULL,
    seq    BIGINT NOT NULL,
    PRIMARY KEY (hash, origin, seq)
);

-- Attachments and partial downloads of them.
CREATE TABLE blobs (
    hash    BYTEA PRIMARY KEY,
    content BYTEA NOT NULL
);

CREATE TABLE partial_blobs (
    hash      BYTEA NOT NULL,
    at_offset BIGINT NOT NULL,
    chunk     BYTEA NOT NULL,
    PRIMARY KEY (hash, at_offset)
);

-- Local state, never replicated: pinned peers, drafts, the records of the
-- layers above (accounts, sessions, the notification queue).
CREATE TABLE peers (
    org    TEXT COLLATE "C" PRIMARY KEY,
    -- JSON of comity_store::PeerRecord.
    record BYTEA NOT NULL
);

CREATE TABLE drafts (
    id     TEXT COLLATE "C" PRIMARY KEY,
    -- JSON of comity_store::LiaisonDraft.
    record BYTEA NOT NULL
);

CREATE TABLE records (
    space TEXT COLLATE "C" NOT NULL,
    key   BYTEA NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (space, key)
);

-- index_version: the comity_store::INDEX_VERSION the derived tables hold.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
