// Package e2e holds the whole-system tests: a real Better Auth server (Node),
// tasks-service on a fresh Postgres database and the gateway, started as
// processes on free ports. The tests act as a frontend and talk only to the
// gateway, except where they attack tasks-service directly.
//
// Run with `make test-e2e` (or `cd e2e && go test ./...`). Needs node >= 20
// and a Postgres that allows CREATE DATABASE: E2E_DATABASE_URL (a direct,
// non-pooler URL), else postgres://postgres@127.0.0.1:5432/test. Without
// them the tests skip locally and fail when CI=true.
package e2e
