package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/api"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// TestOpenAPIDocument: the document is valid OpenAPI 3.1, the service
// serves exactly the canonical operations it lists, and the compatibility
// form lists the same operations under /api/{user_id}/. (Every response the
// other tests receive is validated against it by the harness.)
func TestOpenAPIDocument(t *testing.T) {
	doc, err := libopenapi.NewDocument(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Errorf("openapi version %q, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document: %s: %s", e.Message, e.Reason)
		}
	}

	var raw struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI, &raw); err != nil {
		t.Fatal(err)
	}
	documented, compat := map[string]bool{}, map[string]bool{}
	for path, item := range raw.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			op := strings.ToUpper(method) + " " + path
			if strings.HasPrefix(path, "/api/{user_id}/") {
				compat[strings.ToUpper(method)+" "+strings.Replace(path, "/api/{user_id}/", "/api/", 1)] = true
			} else {
				documented[op] = true
			}
		}
	}

	app := api.New(api.Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	served := map[string]bool{}
	for _, r := range app.GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/api/") || r.Method == "HEAD" {
			continue
		}
		served[r.Method+" "+strings.ReplaceAll(r.Path, ":id", "{id}")] = true
	}
	if d, s := keys(documented), keys(served); strings.Join(d, "\n") != strings.Join(s, "\n") {
		t.Errorf("documented operations\n%s\ndiffer from served ones\n%s", strings.Join(d, "\n"), strings.Join(s, "\n"))
	}
	if d, c := keys(documented), keys(compat); strings.Join(d, "\n") != strings.Join(c, "\n") {
		t.Errorf("compatibility form lists\n%s\nwant the canonical operations\n%s", strings.Join(c, "\n"), strings.Join(d, "\n"))
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIServed: /openapi.json is the embedded document.
func TestOpenAPIServed(t *testing.T) {
	srv := newServer(t)
	r := srv.newUser(t).do("GET", "/openapi.json", nil)
	if r.status != 200 || string(r.body) != string(api.OpenAPI) {
		t.Errorf("GET /openapi.json: %d, %d bytes", r.status, len(r.body))
	}
}
