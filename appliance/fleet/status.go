package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// FleetStatus describes the fleet as the server holds it.
type FleetStatus struct {
	Server        string `json:"server"`
	ServerVersion string `json:"server_version"`
	// Verdicts in force; Stored counts what the bucket holds (with expired
	// entries not yet removed and delete markers).
	Verdicts int    `json:"verdicts"`
	Stored   uint64 `json:"stored"`
	// Models published; Latest is the newest (zero when none).
	Models int       `json:"models"`
	Latest ModelInfo `json:"latest,omitzero"`
	// Alerts in the alert stream.
	Alerts uint64 `json:"alerts"`
	// Members that sent a heartbeat within the last 30 s, by name.
	Members []Status `json:"members"`
}

// Status reads the fleet's state from the server.
func (c *Client) Status(ctx context.Context) (FleetStatus, error) {
	var st FleetStatus
	st.Server, st.ServerVersion = c.Server()
	list, err := c.List(ctx)
	if err != nil {
		return st, err
	}
	st.Verdicts = len(list)
	kvs, err := c.kv.Status(ctx)
	if err != nil {
		return st, fmt.Errorf("fleet: status: %w", err)
	}
	st.Stored = kvs.Values()
	models, err := c.Models(ctx)
	if err != nil {
		return st, err
	}
	st.Models = len(models)
	if len(models) > 0 {
		st.Latest = models[len(models)-1]
	}
	if st.Alerts, err = c.alerts(ctx); err != nil {
		return st, fmt.Errorf("fleet: alert stream: %w", err)
	}
	st.Members, err = c.members(ctx)
	return st, err
}

// members returns the members' last heartbeats, by name.
func (c *Client) members(ctx context.Context) ([]Status, error) {
	out, err := readAll(ctx, c.member, 4*c.o.Timeout, "members", func(e jetstream.KeyValueEntry) (Status, bool, error) {
		var s Status
		if err := json.Unmarshal(e.Value(), &s); err != nil {
			return s, false, fmt.Errorf("fleet: member %s: %w", e.Key(), err)
		}
		return s, true, nil
	})
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}
