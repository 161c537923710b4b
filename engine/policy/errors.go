package policy

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid marks every validation error of a policy spec, prefix or state file.
	ErrInvalid = errors.New("invalid policy")
	// ErrAllowlisted is returned when a block would cover an allowlisted address.
	ErrAllowlisted = errors.New("prefix overlaps the allowlist")
)

// FieldError is one validation error, naming where in the spec it is. Compile joins all
// of them with errors.Join; callers that know the file (appliance/config) use Section,
// Index and Field to point at the line.
type FieldError struct {
	Section string // "rules", "default", "allowlist" or "settings"
	Index   int    // 0-based position in rules or allowlist; -1 otherwise
	Name    string // the rule's name, or the allowlist entry as written
	Field   string // the key inside the entry, e.g. "action"; "" for the entry itself
	Err     error
}

// Error formats the location the way operators count: rules and entries from 1.
func (e *FieldError) Error() string {
	switch e.Section {
	case "rules":
		if e.Field == "" {
			return fmt.Sprintf("rule %d %q: %v", e.Index+1, e.Name, e.Err)
		}
		return fmt.Sprintf("rule %d %q: %s: %v", e.Index+1, e.Name, e.Field, e.Err)
	case "allowlist":
		return fmt.Sprintf("allowlist entry %d %q: %v", e.Index+1, e.Name, e.Err)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %v", e.Section, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Section, e.Field, e.Err)
}

// Unwrap exposes ErrInvalid and the cause to errors.Is and errors.As.
func (e *FieldError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// FieldErrors returns the FieldErrors inside err (as joined by Compile), in order.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}
