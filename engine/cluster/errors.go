package cluster

import "errors"

// Sentinel errors; every error returned by this package wraps one of them.
var (
	ErrConfig     = errors.New("cluster: invalid configuration")
	ErrEmpty      = errors.New("cluster: no rows")
	ErrTooFewRows = errors.New("cluster: fewer rows than clusters")
	ErrNotFinite  = errors.New("cluster: value is NaN or infinite")
	ErrFeatures   = errors.New("cluster: feature columns do not match the model")
	ErrModel      = errors.New("cluster: invalid model")
)
