-- Runs once, when the compose Postgres volume is first created.
-- POSTGRES_DB (gatehouse) holds the tasks; Better Auth gets its own database.
CREATE DATABASE gatehouse_auth;
