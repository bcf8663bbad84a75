-- Version 5: OAuth credentials of remote servers Baton signs in to (one row per server;
-- the credentials document is JSON text: client id, tokens, granted scopes, issuer).
CREATE TABLE oauth_credentials (
    server       text PRIMARY KEY,
    credentials  text NOT NULL,
    updated_at   bigint NOT NULL
);
