-- The schema Alembic's migrations (migrations/versions) build on a new SQLite database, replayed by
-- pipeline.ingest.migrate.upgrade. Generated: python -m pipeline.ingest.migrate (do not edit).
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL,
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE runs (
	id INTEGER NOT NULL,
	started_at VARCHAR(32) NOT NULL,
	finished_at VARCHAR(32),
	status VARCHAR(16) NOT NULL,
	sources JSON NOT NULL,
	files_seen INTEGER NOT NULL,
	files_processed INTEGER NOT NULL,
	files_quarantined INTEGER NOT NULL,
	version VARCHAR(32) NOT NULL,
	PRIMARY KEY (id)
);
CREATE TABLE submissions (
	"key" VARCHAR(64) NOT NULL,
	program VARCHAR(64) NOT NULL,
	institution TEXT,
	pi_name TEXT,
	title TEXT,
	latest_sha256 VARCHAR(64) NOT NULL,
	versions INTEGER NOT NULL,
	PRIMARY KEY ("key")
);
CREATE TABLE files (
	sha256 VARCHAR(64) NOT NULL,
	name TEXT NOT NULL,
	size BIGINT NOT NULL,
	first_run INTEGER NOT NULL,
	status VARCHAR(16) NOT NULL,
	error_code VARCHAR(64),
	error_ja TEXT,
	error_en TEXT,
	submission_key VARCHAR(64),
	version INTEGER,
	program VARCHAR(64), error_detail TEXT,
	PRIMARY KEY (sha256),
	FOREIGN KEY(submission_key) REFERENCES submissions ("key")
);
CREATE TABLE participants (
	sha256 VARCHAR(64) NOT NULL,
	idx INTEGER NOT NULL,
	no INTEGER,
	name TEXT,
	role VARCHAR(64),
	direction VARCHAR(64),
	country VARCHAR(64),
	affiliation TEXT,
	category VARCHAR(64),
	birth_date VARCHAR(10),
	visit_days INTEGER,
	PRIMARY KEY (sha256, idx),
	FOREIGN KEY(sha256) REFERENCES files (sha256)
);
CREATE TABLE cost_items (
	sha256 VARCHAR(64) NOT NULL,
	idx INTEGER NOT NULL,
	category VARCHAR(64),
	subcategory VARCHAR(64),
	description TEXT,
	unit_price BIGINT,
	quantity FLOAT,
	amount BIGINT,
	fiscal_year INTEGER,
	verdict VARCHAR(8) NOT NULL,
	reason VARCHAR(32),
	sheet TEXT,
	"row" INTEGER,
	PRIMARY KEY (sha256, idx),
	FOREIGN KEY(sha256) REFERENCES files (sha256)
);
CREATE TABLE findings (
	sha256 VARCHAR(64) NOT NULL,
	idx INTEGER NOT NULL,
	code VARCHAR(96) NOT NULL,
	severity VARCHAR(8) NOT NULL,
	sheet TEXT,
	cell VARCHAR(16),
	"row" INTEGER,
	message_ja TEXT NOT NULL,
	message_en TEXT NOT NULL,
	clause_document TEXT NOT NULL,
	clause_section TEXT NOT NULL,
	PRIMARY KEY (sha256, idx),
	FOREIGN KEY(sha256) REFERENCES files (sha256)
);
CREATE TABLE cross_findings (
	id VARCHAR(64) NOT NULL,
	code VARCHAR(96) NOT NULL,
	severity VARCHAR(8) NOT NULL,
	program VARCHAR(64) NOT NULL,
	value TEXT NOT NULL,
	submissions JSON NOT NULL,
	files JSON NOT NULL,
	message_ja TEXT NOT NULL,
	message_en TEXT NOT NULL,
	clause_document TEXT NOT NULL,
	clause_section TEXT NOT NULL,
	PRIMARY KEY (id)
);
CREATE TABLE documents (
	sha256 VARCHAR(64) NOT NULL,
	program TEXT NOT NULL,
	submission JSON NOT NULL,
	report JSON NOT NULL,
	PRIMARY KEY (sha256),
	FOREIGN KEY(sha256) REFERENCES files (sha256)
);
CREATE TABLE review_lines (
	sha256 VARCHAR(64) NOT NULL,
	kind VARCHAR(8) NOT NULL,
	idx INTEGER NOT NULL,
	line_key VARCHAR(32) NOT NULL,
	content_key VARCHAR(32) NOT NULL,
	code TEXT,
	category TEXT,
	category_label TEXT,
	subcategory TEXT,
	description TEXT,
	unit_price BIGINT,
	quantity FLOAT,
	amount BIGINT,
	verdict TEXT NOT NULL,
	severity TEXT,
	reason TEXT,
	message_ja TEXT,
	message_en TEXT,
	clause TEXT,
	quote TEXT,
	sheet TEXT,
	cell TEXT,
	"row" INTEGER,
	PRIMARY KEY (sha256, kind, idx),
	FOREIGN KEY(sha256) REFERENCES files (sha256)
);
CREATE TABLE review_log (
	id INTEGER NOT NULL,
	at VARCHAR(32) NOT NULL,
	reviewer TEXT NOT NULL,
	kind VARCHAR(16) NOT NULL,
	subject VARCHAR(64) NOT NULL,
	seq INTEGER NOT NULL,
	submission_key VARCHAR(64) NOT NULL,
	line_key VARCHAR(32),
	sha256 VARCHAR(64),
	content_key VARCHAR(32),
	previous TEXT,
	value TEXT NOT NULL,
	requested BIGINT,
	allowed BIGINT,
	comment TEXT,
	note TEXT,
	source VARCHAR(16) NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_review_log_subject_seq UNIQUE (subject, kind, seq)
);
CREATE INDEX ix_cost_items_reason ON cost_items (reason);
CREATE INDEX ix_participants_country ON participants (country);
CREATE INDEX ix_review_lines_line_key ON review_lines (line_key);
CREATE INDEX ix_review_log_submission ON review_log (submission_key);
CREATE TRIGGER review_log_no_update BEFORE UPDATE ON review_log
                           BEGIN SELECT RAISE(ABORT, 'review_log is append-only: add an entry instead / 監査ログは追記のみです'); END;
CREATE TRIGGER review_log_no_delete BEFORE DELETE ON review_log
                           BEGIN SELECT RAISE(ABORT, 'review_log is append-only: add an entry instead / 監査ログは追記のみです'); END;
INSERT INTO alembic_version VALUES ('0004');
