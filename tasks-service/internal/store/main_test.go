package store

import (
	"os"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/pgtest"
)

var pg *pgtest.Server

func TestMain(m *testing.M) {
	pg = pgtest.Setup("store")
	code := m.Run()
	pg.Close()
	os.Exit(code)
}
