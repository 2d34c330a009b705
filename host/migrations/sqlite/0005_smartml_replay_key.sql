-- smartml replay protection: an HMAC is good for one request. HMAC v2 signs the timestamp,
-- token, resourcetype and actionid only, so the key is (token, hmac): the timestamp is
-- implied by the HMAC, and the digest of the action JSON that 0002's rows appended to the
-- HMAC (`hmac:digest`) let a re-encoded or altered action pass as new.
CREATE TABLE smartml_replay_v2 (
    token_hash  TEXT NOT NULL,
    hmac        TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (token_hash, hmac)
);

-- Entries still inside their window keep protecting their HMAC.
INSERT INTO smartml_replay_v2 (token_hash, hmac, expires_at)
SELECT token_hash,
       CASE WHEN instr(hmac, ':') > 0 THEN substr(hmac, 1, instr(hmac, ':') - 1) ELSE hmac END,
       MAX(expires_at)
FROM smartml_replay
GROUP BY 1, 2;

DROP TABLE smartml_replay;
ALTER TABLE smartml_replay_v2 RENAME TO smartml_replay;
CREATE INDEX smartml_replay_expiry ON smartml_replay (expires_at);
