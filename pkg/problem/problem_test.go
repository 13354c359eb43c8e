package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestFromFiber(t *testing.T) {
	cases := []struct {
		desc       string
		err        error
		wantStatus int
		wantSlug   string
		wantFiber  bool
	}{
		{"not found", fiber.ErrNotFound, 404, "not-found", true},
		{"method", fiber.ErrMethodNotAllowed, 405, "method-not-allowed", true},
		{"too large", fiber.ErrRequestEntityTooLarge, 413, "body-too-large", true},
		{"fiber 5xx hidden", fiber.ErrServiceUnavailable, 500, "internal", true},
		{"other 4xx", fiber.ErrUnprocessableEntity, 422, "bad-request", true},
		{"wrapped fiber error", fmt.Errorf("reading the body: %w", fiber.ErrRequestEntityTooLarge), 413, "body-too-large", true},
		{"plain error hidden", errors.New("pq: relation \"tasks\" does not exist"), 500, "internal", false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			p, ok := FromFiber(tc.err)
			if ok != tc.wantFiber || p.Status != tc.wantStatus || p.Type != TypePrefix+tc.wantSlug {
				t.Fatalf("FromFiber = %+v, %v", p, ok)
			}
			b, _ := json.Marshal(p)
			if strings.Contains(string(b), "relation") {
				t.Fatalf("leaked: %s", b)
			}
		})
	}
}

func TestDetailsJSONShape(t *testing.T) {
	p := New(422, "validation", "Unprocessable Content", "2 fields are invalid").
		WithErrors(FieldError{Field: "title", Message: "must not be empty"}).
		WithHeader("X-Test", "1")
	var m map[string]any
	b, _ := json.Marshal(p)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["type"] != "urn:gatehouse:problem:validation" || m["status"] != float64(422) || m["Headers"] != nil {
		t.Fatalf("shape %s", b)
	}
	errs, _ := m["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["field"] != "title" {
		t.Fatalf("errors %s", b)
	}
	if p.Error() != "422 Unprocessable Content: 2 fields are invalid" {
		t.Fatalf("Error() = %q", p.Error())
	}
}
