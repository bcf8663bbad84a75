-- Version 9: OAuth credentials of remote servers Baton signs in to (one row per server;
-- the credentials document is JSON text: client id, tokens, granted scopes, issuer).
CREATE TABLE oauth_credentials (
    server       TEXT PRIMARY KEY,
    credentials  TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
);
