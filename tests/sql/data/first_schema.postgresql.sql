-- The SQL adapter's first schema (commit 6e17d72, SqlSchema() defaults) as
-- SQLAlchemy compiled it for postgresql: tests/sql/test_migrations.py upgrades a database
-- made from it. Captured once; never regenerate it from newer code.
CREATE TABLE accounts (
	id BIGINT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE account_features (
	account_id BIGINT NOT NULL, 
	feature VARCHAR(100) NOT NULL, 
	PRIMARY KEY (account_id, feature), 
	FOREIGN KEY(account_id) REFERENCES accounts (id) ON DELETE CASCADE
);

CREATE INDEX ix_account_features_feature ON account_features (feature, account_id);

CREATE TABLE agents (
	account_id BIGINT NOT NULL, 
	agent_id BIGINT NOT NULL, 
	name VARCHAR(255) DEFAULT '' NOT NULL, 
	email VARCHAR(255), 
	role VARCHAR(32) DEFAULT 'agent' NOT NULL, 
	PRIMARY KEY (account_id, agent_id), 
	FOREIGN KEY(account_id) REFERENCES accounts (id) ON DELETE CASCADE
);

CREATE TABLE assignment_policies (
	id BIGSERIAL NOT NULL, 
	account_id BIGINT NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	description TEXT DEFAULT '' NOT NULL, 
	assignment_order VARCHAR(32) NOT NULL, 
	conversation_priority VARCHAR(32) NOT NULL, 
	fair_distribution_limit INTEGER, 
	fair_distribution_window INTEGER NOT NULL, 
	enabled BOOLEAN NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE, 
	updated_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(account_id) REFERENCES accounts (id)
);

CREATE INDEX ix_assignment_policies_account_id ON assignment_policies (account_id, name);

CREATE TABLE capacity_policies (
	id BIGSERIAL NOT NULL, 
	account_id BIGINT NOT NULL, 
	name VARCHAR(255) DEFAULT 'Capacity' NOT NULL, 
	description TEXT DEFAULT '' NOT NULL, 
	exclusion_rules JSON, 
	created_at TIMESTAMP WITH TIME ZONE, 
	updated_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(account_id) REFERENCES accounts (id)
);

CREATE INDEX ix_capacity_policies_account_id ON capacity_policies (account_id, id);

CREATE TABLE inboxes (
	id BIGINT NOT NULL, 
	account_id BIGINT NOT NULL, 
	name VARCHAR(255) DEFAULT '' NOT NULL, 
	enable_auto_assignment BOOLEAN NOT NULL, 
	auto_assignment_config JSON, 
	PRIMARY KEY (id), 
	FOREIGN KEY(account_id) REFERENCES accounts (id)
);

CREATE INDEX ix_inboxes_account_id ON inboxes (account_id, id);

CREATE TABLE teams (
	id BIGINT NOT NULL, 
	account_id BIGINT NOT NULL, 
	allow_auto_assign BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(account_id) REFERENCES accounts (id)
);

CREATE TABLE capacity_policy_agents (
	account_id BIGINT NOT NULL, 
	agent_id BIGINT NOT NULL, 
	capacity_policy_id BIGINT NOT NULL, 
	PRIMARY KEY (account_id, agent_id), 
	FOREIGN KEY(capacity_policy_id) REFERENCES capacity_policies (id) ON DELETE CASCADE
);

CREATE INDEX ix_capacity_policy_agents_capacity_policy_id ON capacity_policy_agents (capacity_policy_id, agent_id);

CREATE TABLE conversations (
	id BIGINT NOT NULL, 
	account_id BIGINT NOT NULL, 
	inbox_id BIGINT NOT NULL, 
	status VARCHAR(32) NOT NULL, 
	assignee_id BIGINT, 
	team_id BIGINT, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	last_activity_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(inbox_id) REFERENCES inboxes (id)
);

CREATE INDEX ix_conversations_inbox_status_assignee ON conversations (inbox_id, status, assignee_id, created_at, id);

CREATE INDEX ix_conversations_unassigned_waiting ON conversations (inbox_id, last_activity_at, created_at, id) WHERE assignee_id IS NULL AND status = 'open';

CREATE TABLE inbox_assignment_policies (
	inbox_id BIGINT NOT NULL, 
	assignment_policy_id BIGINT NOT NULL, 
	PRIMARY KEY (inbox_id), 
	FOREIGN KEY(inbox_id) REFERENCES inboxes (id) ON DELETE CASCADE, 
	FOREIGN KEY(assignment_policy_id) REFERENCES assignment_policies (id) ON DELETE CASCADE
);

CREATE INDEX ix_inbox_assignment_policies_assignment_policy_id ON inbox_assignment_policies (assignment_policy_id);

CREATE TABLE inbox_capacity_limits (
	id BIGSERIAL NOT NULL, 
	capacity_policy_id BIGINT NOT NULL, 
	inbox_id BIGINT NOT NULL, 
	conversation_limit INTEGER NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE, 
	updated_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(capacity_policy_id) REFERENCES capacity_policies (id) ON DELETE CASCADE, 
	FOREIGN KEY(inbox_id) REFERENCES inboxes (id) ON DELETE CASCADE, 
	UNIQUE (capacity_policy_id, inbox_id), 
	CHECK (conversation_limit >= 0)
);

CREATE INDEX ix_inbox_capacity_limits_inbox_id ON inbox_capacity_limits (inbox_id);

CREATE TABLE inbox_members (
	position SERIAL NOT NULL, 
	inbox_id BIGINT NOT NULL, 
	agent_id BIGINT NOT NULL, 
	PRIMARY KEY (position), 
	FOREIGN KEY(inbox_id) REFERENCES inboxes (id) ON DELETE CASCADE, 
	UNIQUE (inbox_id, agent_id)
);

CREATE INDEX ix_inbox_members_agent_id ON inbox_members (agent_id);

CREATE TABLE team_members (
	team_id BIGINT NOT NULL, 
	agent_id BIGINT NOT NULL, 
	PRIMARY KEY (team_id, agent_id), 
	FOREIGN KEY(team_id) REFERENCES teams (id) ON DELETE CASCADE
);

CREATE TABLE conversation_labels (
	conversation_id BIGINT NOT NULL, 
	label VARCHAR(255) NOT NULL, 
	PRIMARY KEY (conversation_id, label), 
	FOREIGN KEY(conversation_id) REFERENCES conversations (id) ON DELETE CASCADE
);
