package aggregate

import "errors"

// ErrConfig is returned (wrapped, naming the field) for a configuration a table cannot use.
var ErrConfig = errors.New("aggregate: bad configuration")
