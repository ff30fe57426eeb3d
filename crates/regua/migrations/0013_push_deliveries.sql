-- The app devices each push notice reached, so that a retry after some devices failed for a
-- while (FCM 429/5xx) goes only to the others, never twice to one.
CREATE TABLE push_deliveries (
    notice_id    BIGINT NOT NULL REFERENCES notices (id),
    device_token TEXT NOT NULL,
    delivered_at BIGINT NOT NULL,
    PRIMARY KEY (notice_id, device_token)
);
