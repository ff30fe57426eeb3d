-- Layouts de e-mail. `version` grows on every save; every version is kept in layout_versions,
-- so a notice that records (layout_id, layout_version) can always be traced to the exact words
-- it was sent with. `text` empty means "derived from the HTML". `default_of` names the
-- purpose whose built-in layout this one was installed from ("restaurar padrão"); at most one
-- layout per purpose carries it.
CREATE TABLE layouts (
    id         @ID@,
    name       TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    html       TEXT NOT NULL,
    text       TEXT NOT NULL DEFAULT '',
    version    BIGINT NOT NULL DEFAULT 1,
    default_of TEXT,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    CONSTRAINT layouts_name_key UNIQUE (name),
    CONSTRAINT layouts_default_of_key UNIQUE (default_of)
);

CREATE TABLE layout_versions (
    layout_id BIGINT NOT NULL REFERENCES layouts (id),
    version   BIGINT NOT NULL,
    subject   TEXT NOT NULL,
    html      TEXT NOT NULL,
    text      TEXT NOT NULL,
    saved_at  BIGINT NOT NULL,
    saved_by  TEXT NOT NULL,
    CONSTRAINT layout_versions_pkey PRIMARY KEY (layout_id, version)
);
