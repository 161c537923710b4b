package tree

import "fmt"

// FieldError is a validation error naming the offending field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("tree: field %q: %s", e.Field, e.Msg) }

// Unwrap makes errors.Is(err, ErrTree) true.
func (e *FieldError) Unwrap() error { return ErrTree }

func errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func nodeField(i int, name string) string { return fmt.Sprintf("nodes[%d].%s", i, name) }
