module github.com/gatehouse-dev/gatehouse/e2e

go 1.26.8

require (
	github.com/gatehouse-dev/gatehouse/pkg v0.0.0
	github.com/lib/pq v1.12.3
)

replace github.com/gatehouse-dev/gatehouse/pkg => ../pkg
