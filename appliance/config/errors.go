package config

import "fmt"

// quietError is an error whose message is exactly msg but which matches sentinel with
// errors.Is, so messages stay "FILE:LINE: what is wrong" without the sentinel's text.
type quietError struct {
	msg      string
	sentinel error
}

func (e *quietError) Error() string { return e.msg }
func (e *quietError) Unwrap() error { return e.sentinel }

func invalidf(sentinel error, format string, args ...any) error {
	return &quietError{msg: fmt.Sprintf(format, args...), sentinel: sentinel}
}
