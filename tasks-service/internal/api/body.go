package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"sort"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/gofiber/fiber/v2"
)

// editable are the fields a client may send; readOnly ones it may read only.
var (
	editable = map[string]bool{"title": true, "description": true, "priority": true, "tags": true, "due_at": true, "completed": true}
	readOnly = map[string]bool{"id": true, "user_id": true, "completed_at": true, "created_at": true, "updated_at": true, "version": true}
)

// requireJSON fails with codeUnsupportedMedia unless the body is declared as JSON
// (application/json or any +json type, e.g. application/merge-patch+json).
func requireJSON(c *fiber.Ctx) error {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return task.Errorf(codeUnsupportedMedia, "send the body as application/json")
}

// requireIdentityCoding fails with codeUnsupportedMedia unless every
// Content-Encoding the request declares is identity (or there is none). The
// API takes JSON as sent and never inflates a body: Fiber's Ctx.Body would
// gunzip "gzip, gzip" without a limit (a 1 KB body became 512 MiB), and the
// gateway's signature covers the bytes as received, so nothing may transform
// them before they are hashed. Content codings are case-insensitive (RFC 9110
// section 8.4.1); every field line counts, as Fiber would use the last.
func requireIdentityCoding(c *fiber.Ctx) error {
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderContentEncoding) {
		for coding := range bytes.SplitSeq(v, []byte(",")) {
			coding = bytes.Trim(coding, " \t")
			if len(coding) > 0 && !bytes.EqualFold(coding, []byte("identity")) {
				return task.Errorf(codeUnsupportedMedia, "this API does not accept compressed request bodies (Content-Encoding %.32q); send the JSON as it is", coding)
			}
		}
	}
	return nil
}

// body returns the request body exactly as received. It is the only way
// handlers read a body: Fiber's Ctx.Body decodes Content-Encoding.
func body(c *fiber.Ctx) []byte { return c.Request().Body() }

// decodeObject parses body as one JSON object whose members are all in
// allowed; it returns the members undecoded.
func decodeObject(body []byte, allowed map[string]bool) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, task.Errorf(task.Malformed, "the request body is empty; send a JSON object")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, task.Errorf(task.Malformed, "malformed JSON at byte %d", syn.Offset)
		}
		return nil, task.Errorf(task.Malformed, "the request body must be a JSON object")
	}
	if obj == nil {
		return nil, task.Errorf(task.Malformed, "the request body must be a JSON object")
	}
	var bad []task.FieldError
	for name := range obj {
		switch {
		case allowed[name]:
		case readOnly[name]:
			bad = append(bad, task.FieldError{Field: name, Message: "is read-only"})
		default:
			bad = append(bad, task.FieldError{Field: name, Message: "is not a known field"})
		}
	}
	if len(bad) > 0 {
		sort.Slice(bad, func(i, j int) bool { return bad[i].Field < bad[j].Field })
		return nil, &task.Error{Code: task.Malformed, Message: "the request body has fields this API does not accept", Fields: bad}
	}
	return obj, nil
}

// overlay decodes the members of obj onto in; JSON null resets a field to its
// default (merge-patch semantics), so a null title is "required" again.
func overlay(in *task.Input, obj map[string]json.RawMessage) error {
	var bad []task.FieldError
	for name, raw := range obj {
		isNull := bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
		var err error
		switch name {
		case "title":
			in.Title, err = decodeOptional[string](raw, isNull)
		case "description":
			in.Description, err = decodeOptional[string](raw, isNull)
		case "priority":
			in.Priority, err = decodeOptional[string](raw, isNull)
		case "due_at":
			in.DueAt, err = decodeOptional[string](raw, isNull)
		case "completed":
			in.Completed, err = decodeOptional[bool](raw, isNull)
		case "tags":
			var tags *[]string
			tags, err = decodeOptional[[]string](raw, isNull)
			in.Tags = nil
			if tags != nil {
				in.Tags = *tags
			}
		}
		if err != nil {
			bad = append(bad, task.FieldError{Field: name, Message: err.Error()})
		}
	}
	sort.Slice(bad, func(i, j int) bool { return bad[i].Field < bad[j].Field })
	return task.FieldErrors(bad)
}

func decodeOptional[T any](raw json.RawMessage, isNull bool) (*T, error) {
	if isNull {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("must be %s", kindOf[T]())
	}
	return v, nil
}

func kindOf[T any]() string {
	switch any(new(T)).(type) {
	case *string:
		return "a string"
	case *bool:
		return "true or false"
	case *[]string:
		return "an array of strings"
	}
	return "valid"
}

// draftFromBody reads a full task body (create, PUT): absent fields take
// their defaults.
func draftFromBody(c *fiber.Ctx) (task.Draft, error) {
	if err := requireJSON(c); err != nil {
		return task.Draft{}, err
	}
	obj, err := decodeObject(body(c), editable)
	if err != nil {
		return task.Draft{}, err
	}
	var in task.Input
	if err := overlay(&in, obj); err != nil {
		return task.Draft{}, err
	}
	return in.Draft()
}

func hashBody(b []byte) [32]byte { return sha256.Sum256(b) }
