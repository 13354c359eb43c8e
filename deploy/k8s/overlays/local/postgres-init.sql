-- Runs once, when the data volume is empty. gatehouse (POSTGRES_DB) holds the
-- tasks; Better Auth keeps its users, sessions and JWKS in its own database.
CREATE DATABASE gatehouse_auth;
