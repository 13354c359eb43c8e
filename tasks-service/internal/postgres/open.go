// Package postgres connects to Postgres the way Neon needs: connection
// strings as the console writes them (TLS with SNI, libpq-only parameters
// consumed instead of sent as SET) and a patient, jittered first connect.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"
)

// PoolOptions sizes the connection pool.
type PoolOptions struct {
	MaxOpen     int           // 0: database/sql default (unlimited)
	MaxIdle     int           // idle connections kept
	MaxIdleTime time.Duration // close idle connections after this (Neon suspends idle computes)
	MaxLifetime time.Duration
}

// Connect opens a pool over c and waits until the database answers, retrying
// with exponential backoff and full jitter until ctx is done: a Neon compute
// that scaled to zero takes seconds to wake. Each attempt's own timeout is
// c.DialTimeout.
func Connect(ctx context.Context, c ConnConfig, pool PoolOptions, log *slog.Logger) (*bun.DB, error) {
	sqldb := sql.OpenDB(pgdriver.NewConnector(c.Options()...))
	sqldb.SetMaxOpenConns(pool.MaxOpen)
	sqldb.SetMaxIdleConns(pool.MaxIdle)
	sqldb.SetConnMaxIdleTime(pool.MaxIdleTime)
	sqldb.SetConnMaxLifetime(pool.MaxLifetime)
	db := bun.NewDB(sqldb, pgdialect.New())

	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := Ping(ctx, db)
		if err == nil {
			return db, nil
		}
		sleep := time.Duration(rand.Int64N(int64(backoff))) + backoff/2
		log.Warn("database not reachable yet", "db", c.String(), "attempt", attempt, "retry_in", sleep.Round(time.Millisecond), "error", err)
		select {
		case <-ctx.Done():
			_ = db.Close()
			return nil, fmt.Errorf("database %s not reachable: %w", c.String(), errors.Join(err, ctx.Err()))
		case <-time.After(sleep):
		}
		backoff = min(backoff*2, 8*time.Second)
	}
}

// Ping checks that the database answers a query, within 3 s.
func Ping(ctx context.Context, db *bun.DB) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var one int
	return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}
