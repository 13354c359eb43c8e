// Database helper for deploy/run.sh (so `make run` needs no psql):
//
//   node dbsetup.mjs URL            exit 0 when Postgres at URL answers, 3 when not
//   node dbsetup.mjs URL NAME...    also CREATE DATABASE NAME for each one missing
//
// Messages go to stderr; the URL's password is never printed.

import process from "node:process";
import pg from "pg";

function redact(raw) {
  try {
    const u = new URL(raw);
    if (u.password) u.password = "xxxxx";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}

async function main() {
  const [url, ...names] = process.argv.slice(2);
  if (!url) {
    console.error("usage: node dbsetup.mjs POSTGRES_URL [DATABASE...]");
    process.exit(2);
  }
  for (const name of names) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
      console.error(`dbsetup: database name ${JSON.stringify(name)} must match [a-z_][a-z0-9_]*`);
      process.exit(2);
    }
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    console.error(`dbsetup: cannot connect to ${redact(url)}: ${err.message}`);
    process.exit(3);
  }
  try {
    for (const name of names) {
      const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
      if (rowCount === 0) {
        await client.query(`CREATE DATABASE "${name}"`);
        console.error(`dbsetup: created database ${name}`);
      }
    }
  } catch (err) {
    console.error(`dbsetup: ${err.message}`);
    process.exit(1);
  } finally {
    await client.end();
  }
}

main();
