module github.com/gatehouse-dev/gatehouse/e2e

go 1.26.8
