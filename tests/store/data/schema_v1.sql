-- The schema as optimizer.store made it with create_all before migrations (version 1),
-- dumped from a database made by that code (SQLite).
CREATE TABLE meta (
	"key" VARCHAR NOT NULL, 
	value VARCHAR NOT NULL, 
	PRIMARY KEY ("key")
);
CREATE TABLE campaign (
	name VARCHAR NOT NULL, 
	product VARCHAR NOT NULL, 
	brief VARCHAR NOT NULL, 
	brand_voice VARCHAR NOT NULL, 
	config_hash VARCHAR NOT NULL, 
	config JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE screening (
	id VARCHAR NOT NULL, 
	batch VARCHAR NOT NULL, 
	campaign VARCHAR NOT NULL, 
	creative_id VARCHAR, 
	segment VARCHAR, 
	prompt_id VARCHAR, 
	kept BOOLEAN NOT NULL, 
	reasons JSON NOT NULL, 
	scores JSON NOT NULL, 
	raw VARCHAR, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_screening_campaign ON screening (campaign);
CREATE INDEX ix_screening_creative_id ON screening (creative_id);
CREATE INDEX ix_screening_batch ON screening (batch);
CREATE TABLE run (
	id VARCHAR NOT NULL, 
	campaign VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	policy VARCHAR NOT NULL, 
	seed INTEGER NOT NULL, 
	config_hash VARCHAR NOT NULL, 
	impressions INTEGER NOT NULL, 
	batch_size INTEGER NOT NULL, 
	versions JSON NOT NULL, 
	status VARCHAR NOT NULL, 
	summary JSON, 
	model_path VARCHAR, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_run_campaign ON run (campaign);
CREATE TABLE decision (
	event_id VARCHAR NOT NULL, 
	run_id VARCHAR, 
	timestamp DATETIME NOT NULL, 
	campaign VARCHAR NOT NULL, 
	segment VARCHAR, 
	context JSON NOT NULL, 
	candidates JSON NOT NULL, 
	chosen VARCHAR NOT NULL, 
	probability FLOAT NOT NULL, 
	policy VARCHAR NOT NULL, 
	policy_version VARCHAR NOT NULL, 
	PRIMARY KEY (event_id)
);
CREATE INDEX ix_decision_campaign_segment ON decision (campaign, segment);
CREATE INDEX ix_decision_run_id ON decision (run_id);
CREATE INDEX ix_decision_chosen ON decision (chosen);
CREATE TABLE reward (
	event_id VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	value FLOAT NOT NULL, 
	timestamp DATETIME NOT NULL, 
	PRIMARY KEY (event_id, kind)
);
CREATE TABLE quarantine (
	id VARCHAR NOT NULL, 
	file VARCHAR NOT NULL, 
	line INTEGER NOT NULL, 
	reason VARCHAR NOT NULL, 
	raw VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE performance_report (
	campaign VARCHAR NOT NULL, 
	segment VARCHAR NOT NULL, 
	creative_id VARCHAR NOT NULL, 
	date VARCHAR NOT NULL, 
	headline VARCHAR NOT NULL, 
	body VARCHAR NOT NULL, 
	impressions INTEGER NOT NULL, 
	clicks INTEGER NOT NULL, 
	conversions INTEGER, 
	PRIMARY KEY (campaign, segment, creative_id, date)
);
CREATE TABLE policy (
	version VARCHAR NOT NULL, 
	campaign VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	path VARCHAR NOT NULL, 
	source VARCHAR NOT NULL, 
	events INTEGER NOT NULL, 
	metrics JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (version)
);
CREATE INDEX ix_policy_campaign ON policy (campaign);
CREATE TABLE round (
	run_id VARCHAR NOT NULL, 
	round INTEGER NOT NULL, 
	campaign VARCHAR NOT NULL, 
	refresh BOOLEAN NOT NULL, 
	metrics JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (run_id, round)
);
CREATE INDEX ix_round_campaign ON round (campaign);
CREATE TABLE generator (
	version VARCHAR NOT NULL, 
	campaign VARCHAR NOT NULL, 
	base VARCHAR NOT NULL, 
	adapter VARCHAR, 
	data_hash VARCHAR, 
	metrics JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (version)
);
CREATE INDEX ix_generator_campaign ON generator (campaign);
CREATE TABLE segment (
	campaign VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	share FLOAT NOT NULL, 
	description VARCHAR NOT NULL, 
	features JSON NOT NULL, 
	PRIMARY KEY (campaign, name), 
	FOREIGN KEY(campaign) REFERENCES campaign (name)
);
CREATE TABLE creative (
	id VARCHAR NOT NULL, 
	campaign VARCHAR NOT NULL, 
	headline VARCHAR NOT NULL, 
	body VARCHAR NOT NULL, 
	cta VARCHAR NOT NULL, 
	segment VARCHAR, 
	status VARCHAR NOT NULL, 
	retired_reason VARCHAR, 
	retired_at DATETIME, 
	source VARCHAR NOT NULL, 
	prompt_id VARCHAR, 
	generator_version VARCHAR, 
	parent_id VARCHAR, 
	lineage JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(campaign) REFERENCES campaign (name)
);
CREATE INDEX ix_creative_campaign ON creative (campaign);
INSERT INTO meta (key, value) VALUES ('schema_version', '1');
