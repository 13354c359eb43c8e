package ratelimit

import "time"

// Decision is the outcome of one request against one limit.
type Decision struct {
	Allowed    bool
	Limit      int           // the burst: requests allowed at once
	Remaining  int           // requests that would still be allowed right now
	RetryAfter time.Duration // when denied: until the next request is allowed
	Reset      time.Duration // until the bucket is full again
	Shared     bool          // decided by Redis (true) or by this replica alone
}

// gcra applies the generic cell rate algorithm. tat is the key's theoretical
// arrival time (zero or past: a full bucket). It returns the decision and the
// tat to store when the request is allowed. The Lua script in redis.go is
// the same computation in microseconds.
func gcra(tat, now time.Time, r Rate) (Decision, time.Time) {
	interval := r.interval()
	tolerance := time.Duration(r.Burst) * interval
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	diff := next.Sub(now)
	if diff > tolerance {
		return Decision{Limit: r.Burst, RetryAfter: diff - tolerance, Reset: tat.Sub(now)}, tat
	}
	return Decision{Allowed: true, Limit: r.Burst, Remaining: int((tolerance - diff) / interval), Reset: diff}, next
}
