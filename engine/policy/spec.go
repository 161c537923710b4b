package policy

import (
	"encoding/json"
	"fmt"
)

// Spec is a policy as written by an operator (a YAML file, or JSON over the control
// socket): plain values, not yet validated. Compile turns it into a Policy.
type Spec struct {
	// Version is the file format version; 0 and 1 are accepted.
	Version int `yaml:"version,omitempty" json:"version,omitempty"`
	// Default is what happens when no rule matches.
	Default ActionSpec `yaml:"default" json:"default"`
	// Unknown is what happens to an UNKNOWN flow (the model's k-means score at or
	// beyond its threshold: unlike everything it trained on) that no rule with
	// `anomaly: true` matches; ALERT with the default TTL when empty.
	Unknown ActionSpec `yaml:"unknown,omitempty" json:"unknown,omitempty"`
	// Allowlist holds source prefixes (or single addresses) that never get DROP or TAG.
	Allowlist []string `yaml:"allowlist,omitempty" json:"allowlist,omitempty"`
	// Rules are tried in order; the first rule that matches decides.
	Rules []RuleSpec `yaml:"rules" json:"rules"`
	// Settings holds the defaults rules fall back on.
	Settings Settings `yaml:"settings,omitempty" json:"settings,omitempty"`
	// Mitigation holds the thresholds and actions of host- and packet-scale
	// mitigation (victims, signatures, sources); nil means every default.
	Mitigation *MitigationSpec `yaml:"mitigation,omitempty" json:"mitigation,omitempty"`
}

// RuleSpec is one rule: match conditions plus the action taken when they hold.
type RuleSpec struct {
	// Name identifies the rule in decisions, metrics and errors; "rule<N>" when empty.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Labels are the model labels the rule matches, case-insensitively; empty or "*"
	// matches every label.
	Labels Labels `yaml:"labels,omitempty" json:"labels,omitempty"`
	// MinProbability is the lowest class probability the rule matches (0 to 1; 0 = any).
	MinProbability float64 `yaml:"min_probability,omitempty" json:"min_probability,omitempty"`
	// Anomaly true makes the rule match only UNKNOWN (anomalous) flows; false or nil,
	// only the others: an UNKNOWN flow is decided by `anomaly: true` rules or Unknown.
	Anomaly *bool `yaml:"anomaly,omitempty" json:"anomaly,omitempty"`
	// ActionSpec is what happens when the rule matches.
	ActionSpec `yaml:",inline"`
}

// ActionSpec is an action with its parameters, shared by rules and the default.
type ActionSpec struct {
	// Action is DROP, TAG, PASS or ALERT (case-insensitive).
	Action string `yaml:"action,omitempty" json:"action,omitempty"`
	// DSCP is the code point TAG writes (0 to 63); only valid with TAG, required there.
	DSCP *int `yaml:"dscp,omitempty" json:"dscp,omitempty"`
	// Scope is flow (default), source or prefix.
	Scope string `yaml:"scope,omitempty" json:"scope,omitempty"`
	// PrefixV4 and PrefixV6 are the prefix lengths of scope prefix; Settings give defaults.
	PrefixV4 *int `yaml:"prefix_v4,omitempty" json:"prefix_v4,omitempty"`
	PrefixV6 *int `yaml:"prefix_v6,omitempty" json:"prefix_v6,omitempty"`
	// TTL is how long the verdict stays in force, a Go duration ("10m");
	// Settings.DefaultTTL when empty.
	TTL string `yaml:"ttl,omitempty" json:"ttl,omitempty"`
}

// Settings are policy-wide defaults and limits. Zero values mean the documented default.
type Settings struct {
	// DefaultTTL is the TTL of rules that set none (default 5m).
	DefaultTTL string `yaml:"default_ttl,omitempty" json:"default_ttl,omitempty"`
	// MaxTTL is the longest TTL a rule may set (default 168h), catching typos like "100d".
	MaxTTL string `yaml:"max_ttl,omitempty" json:"max_ttl,omitempty"`
	// PrefixV4 and PrefixV6 are the default prefix lengths of scope prefix (24 and 64).
	PrefixV4 int `yaml:"prefix_v4,omitempty" json:"prefix_v4,omitempty"`
	PrefixV6 int `yaml:"prefix_v6,omitempty" json:"prefix_v6,omitempty"`
	// AllowlistAction is what an allowlisted source gets instead of DROP or TAG:
	// ALERT (default: forward and record) or PASS.
	AllowlistAction string `yaml:"allowlist_action,omitempty" json:"allowlist_action,omitempty"`
}

// Labels is a list of model labels. In YAML and JSON it may be written as one string
// (`labels: DDoS`) or a list (`labels: [DDoS, PortScan]`).
type Labels []string

// UnmarshalJSON accepts a string or a list of strings.
func (l *Labels) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = Labels{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("labels: want a string or a list of strings")
	}
	*l = many
	return nil
}

// UnmarshalYAML accepts a string or a list of strings. It has the gopkg.in/yaml
// obsolete-unmarshaler signature, so this package needs no YAML import.
func (l *Labels) UnmarshalYAML(unmarshal func(any) error) error {
	var one string
	if err := unmarshal(&one); err == nil {
		*l = Labels{one}
		return nil
	}
	var many []string
	if err := unmarshal(&many); err != nil {
		return fmt.Errorf("labels: want a string or a list of strings")
	}
	*l = many
	return nil
}
