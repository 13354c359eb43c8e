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
	}
	reg.MustRegister(m.IdempotencyReplays, m.RoleSwitchFailures)
	return m
}
