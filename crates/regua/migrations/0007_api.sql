-- The REST API: keys per integration (only their SHA-256 is stored) with the permissions they
-- carry, and the responses of POSTs made with an Idempotency-Key, replayed on a retry.

CREATE TABLE api_keys (
    id          @ID@,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    CONSTRAINT api_keys_name_key UNIQUE (name),
    CONSTRAINT api_keys_hash_key UNIQUE (key_hash)
);

CREATE TABLE idempotency_keys (
    api_key_id   BIGINT NOT NULL REFERENCES api_keys (id),
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (api_key_id, idem_key)
);
