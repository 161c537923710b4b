package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// readAll returns what decode makes of every value in kv (deleted keys are
// skipped), read within timeout. decode leaves a value out by returning false;
// values it cannot decode are left out and returned joined in the error, beside
// the rest. what names the read in errors.
func readAll[T any](ctx context.Context, kv jetstream.KeyValue, timeout time.Duration, what string,
	decode func(jetstream.KeyValueEntry) (T, bool, error)) ([]T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("fleet: %s: %w", what, err)
	}
	defer w.Stop()
	var out []T
	var errs []error
	for {
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("fleet: %s: %w", what, ctx.Err())
		case e := <-w.Updates():
			if e == nil {
				return out, errors.Join(errs...)
			}
			v, ok, err := decode(e)
			if err != nil {
				errs = append(errs, err)
			} else if ok {
				out = append(out, v)
			}
		}
	}
}
