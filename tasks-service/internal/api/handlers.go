package api

import (
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tasks-service/internal/task"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
)

// HeaderIdempotencyKey makes POST /api/tasks safe to retry.
const HeaderIdempotencyKey = "Idempotency-Key"

// handlers are the task routes; each returns an error and lets the one
// error table answer.
type handlers struct {
	service *ServiceMetrics // nil: not counted
}

type listResponse struct {
	Items      []task.Task `json:"items"`
	NextCursor *string     `json:"next_cursor"`
}

func (handlers) list(c *fiber.Ctx) error {
	values, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err != nil {
		return &task.Error{Code: task.Malformed, Message: "the query string is not valid URL encoding"}
	}
	q, err := parseListQuery(values)
	if err != nil {
		return err
	}
	page, err := storeOf(c).List(c.UserContext(), q)
	if err != nil {
		return err
	}
	resp := listResponse{Items: page.Items}
	if page.NextCursor != "" {
		resp.NextCursor = &page.NextCursor
	}
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	return c.JSON(resp)
}

func (h handlers) create(c *fiber.Ctx) error {
	d, err := draftFromBody(c)
	if err != nil {
		return err
	}
	var idem *task.Idempotency
	if key := c.Get(HeaderIdempotencyKey); key != "" || c.Request().Header.Peek(HeaderIdempotencyKey) != nil {
		if !validIdempotencyKey(key) {
			return &task.Error{Code: task.Malformed, Message: "invalid Idempotency-Key",
				Fields: []task.FieldError{{Field: HeaderIdempotencyKey, Message: "must be 1 to 255 visible ASCII characters"}}}
		}
		idem = &task.Idempotency{Key: key, BodyHash: hashBody(body(c))}
	}
	t, replayed, err := storeOf(c).Create(c.UserContext(), d, idem)
	if err != nil {
		return err
	}
	if replayed {
		c.Set("Idempotent-Replayed", "true")
		if h.service != nil {
			h.service.IdempotencyReplays.Inc()
		}
	}
	c.Location("/api/tasks/" + t.ID.String())
	return sendTask(c.Status(fiber.StatusCreated), t)
}

func (handlers) get(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	t, err := storeOf(c).Get(c.UserContext(), id)
	if err != nil {
		return err
	}
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && noneMatch(inm, t.Version) {
		c.Set(fiber.HeaderETag, etag(t.Version))
		return c.SendStatus(fiber.StatusNotModified)
	}
	return sendTask(c, t)
}

func (handlers) replace(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	d, err := draftFromBody(c)
	if err != nil {
		return err
	}
	t, err := storeOf(c).Replace(c.UserContext(), id, d, ifMatch(c.Get(fiber.HeaderIfMatch)))
	if err != nil {
		return err
	}
	return sendTask(c, t)
}

// update applies a JSON merge patch (RFC 7396): members replace fields,
// null resets a field to its default (clears due_at).
func (handlers) update(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := requireJSON(c); err != nil {
		return err
	}
	patch, err := decodeObject(body(c), editable)
	if err != nil {
		return err
	}
	change := func(cur task.Task) (task.Draft, error) {
		in := task.InputOf(cur)
		if err := overlay(&in, patch); err != nil {
			return task.Draft{}, err
		}
		return in.Draft()
	}
	t, err := storeOf(c).Update(c.UserContext(), id, change, ifMatch(c.Get(fiber.HeaderIfMatch)))
	if err != nil {
		return err
	}
	return sendTask(c, t)
}

func (handlers) remove(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := storeOf(c).Delete(c.UserContext(), id, ifMatch(c.Get(fiber.HeaderIfMatch))); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// complete toggles completion, or sets it from {"completed": bool}.
func (handlers) complete(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var completed *bool
	if len(strings.TrimSpace(string(body(c)))) > 0 {
		if err := requireJSON(c); err != nil {
			return err
		}
		obj, err := decodeObject(body(c), map[string]bool{"completed": true})
		if err != nil {
			return err
		}
		var in task.Input
		if err := overlay(&in, obj); err != nil {
			return err
		}
		if in.Completed == nil {
			return task.FieldErrors([]task.FieldError{{Field: "completed", Message: "must be true or false"}})
		}
		completed = in.Completed
	}
	t, err := storeOf(c).SetCompleted(c.UserContext(), id, completed, ifMatch(c.Get(fiber.HeaderIfMatch)))
	if err != nil {
		return err
	}
	return sendTask(c, t)
}

func sendTask(c *fiber.Ctx, t task.Task) error {
	c.Set(fiber.HeaderETag, etag(t.Version))
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	return c.JSON(t)
}

// pathID parses the :id segment, percent-decoded: routing and the identity
// signature see the raw target, and %41 names what A names (RFC 3986
// §6.2.2.2). A value that is not a UUID in its 36-character form names no
// task: 404.
func pathID(c *fiber.Ctx) (uuid.UUID, error) {
	raw, err := url.PathUnescape(c.Params("id"))
	if err != nil || len(raw) != 36 {
		return uuid.Nil, task.Errorf(task.NotFound, "no such task")
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, task.Errorf(task.NotFound, "no such task")
	}
	return id, nil
}

func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}
