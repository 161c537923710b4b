package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Action is what the appliance does with the traffic a decision covers.
type Action uint8

const (
	// ActionPass forwards the traffic; for a flow it offloads the rest of it to the kernel.
	ActionPass Action = iota
	// ActionDrop drops the traffic from the next packet on.
	ActionDrop
	// ActionTag forwards the traffic with its DSCP rewritten to Decision.DSCP.
	ActionTag
	// ActionAlert forwards the traffic unchanged and records the decision (alert only).
	ActionAlert
	numActions
)

var actionNames = [numActions]string{"PASS", "DROP", "TAG", "ALERT"}

// String returns the action's upper-case name as written in policy files.
func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Enforcing reports whether the action changes traffic (DROP or TAG), which an
// allowlisted source must never get.
func (a Action) Enforcing() bool { return a == ActionDrop || a == ActionTag }

// MarshalText writes the action's name, so JSON and YAML show "DROP" rather than 1.
func (a Action) MarshalText() ([]byte, error) {
	if a >= numActions {
		return nil, fmt.Errorf("policy: invalid action %d", uint8(a))
	}
	return []byte(actionNames[a]), nil
}

// UnmarshalText parses an action name (case-insensitive).
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseAction parses an action name, case-insensitive: DROP, TAG, PASS or ALERT.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if strings.EqualFold(s, n) {
			return Action(i), nil
		}
	}
	if s == "" {
		return 0, errors.New("missing action (want DROP, TAG, PASS, ALERT)")
	}
	return 0, fmt.Errorf("unknown action %q (want DROP, TAG, PASS, ALERT)", s)
}

// Scope is what a decision applies to: the flow, every flow of its source address, or every
// flow of the source's prefix.
type Scope uint8

const (
	// ScopeFlow applies the decision to this flow (5-tuple, both directions) only.
	ScopeFlow Scope = iota
	// ScopeSource applies the decision to every flow from the source address (/32 or /128).
	ScopeSource
	// ScopePrefix applies the decision to every flow from the source's prefix
	// (Decision.PrefixLen bits, chosen per address family).
	ScopePrefix
	numScopes
)

var scopeNames = [numScopes]string{"flow", "source", "prefix"}

// String returns the scope's lower-case name as written in policy files.
func (s Scope) String() string {
	if s < numScopes {
		return scopeNames[s]
	}
	return fmt.Sprintf("Scope(%d)", uint8(s))
}

// MarshalText writes the scope's name.
func (s Scope) MarshalText() ([]byte, error) {
	if s >= numScopes {
		return nil, fmt.Errorf("policy: invalid scope %d", uint8(s))
	}
	return []byte(scopeNames[s]), nil
}

// UnmarshalText parses a scope name (case-insensitive).
func (s *Scope) UnmarshalText(b []byte) error {
	v, err := ParseScope(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseScope parses a scope name, case-insensitive: flow, source or prefix. The empty
// string is flow.
func ParseScope(s string) (Scope, error) {
	if s == "" {
		return ScopeFlow, nil
	}
	for i, n := range scopeNames {
		if strings.EqualFold(s, n) {
			return Scope(i), nil
		}
	}
	return 0, fmt.Errorf("unknown scope %q (want flow, source, prefix)", s)
}
