-- A CSV uploaded on the Importar page and previewed, waiting for the operator's confirmation
-- (base64 of its bytes, with the kind and the encoding the preview used); removed once
-- imported, or after a day.
CREATE TABLE import_uploads (
    id          @ID@,
    kind        TEXT NOT NULL,
    encoding    TEXT NOT NULL,
    name        TEXT NOT NULL,
    content     TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL
);
