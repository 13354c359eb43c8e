package api

import "github.com/prometheus/client_golang/prometheus"

// ServiceMetrics are the tasks service's own series, beside the HTTP ones
// of observe.Metrics and the database pool's (main registers client_golang's
// DBStatsCollector: go_sql_*). None has a per-user label.
type ServiceMetrics struct {
	// IdempotencyReplays counts POST /api/tasks answered from an earlier
	// request with the same Idempotency-Key (Idempotent-Replayed: true).
	IdempotencyReplays prometheus.Counter
	// RoleSwitchFailures counts statements Postgres refused at SET LOCAL
	// ROLE (store.WithRoleSwitchFailures): RLS cannot be enforced, every
	// request fails.
	RoleSwitchFailures prometheus.Counter
	// PoolWaits observes how long request statements waited for one of the
	// pool's connections, each time one had to (store.WithPoolWaits: they
	// wait in line at the store, so go_sql_wait_* does not count them).
	PoolWaits prometheus.Histogram
}

// NewServiceMetrics registers the tasks service's series on reg.
func NewServiceMetrics(reg prometheus.Registerer) *ServiceMetrics {
	m := &ServiceMetrics{
		IdempotencyReplays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tasks_idempotency_replays_total",
			Help: "Task creations answered from an earlier request with the same Idempotency-Key.",
		}),
		RoleSwitchFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tasks_rls_role_switch_failures_total",
			Help: "Statements refused because Postgres would not SET LOCAL ROLE to the RLS role.",
		}),
		PoolWaits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tasks_db_pool_wait_seconds",
			Help:    "Time request statements waited for a free database connection, counted only when they waited.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	reg.MustRegister(m.IdempotencyReplays, m.RoleSwitchFailures, m.PoolWaits)
	return m
}
