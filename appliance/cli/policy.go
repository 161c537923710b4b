package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/engine/policy"
)

// Flag names of the policy subcommands.
const (
	policyFlagClasses = "classes"
	policyFlagStrict  = "strict"
)

// policyCommand groups the policy subcommands. check works on files alone; show, apply
// and diff talk to the daemon's control socket and are added with it (appliance/control):
// each is one more entry in Subcommands, reusing policyReport and writePolicyReport.
func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "validate and inspect traffic policies (label, probability, anomaly → action)",
		Description: Prose(`A policy file (YAML, see configs/policy.yaml) maps the model's label, its probability and
			the anomaly flag to an action (DROP, TAG with a DSCP value, PASS, ALERT), a scope (flow, source
			address, source prefix) and a TTL, with an allowlist that is never dropped and a default action.`),
		Subcommands: []*cli.Command{
			policyCheckCommand(),
			policyShowCommand(),
			policyApplyCommand(),
			policyDiffCommand(),
		},
	}
}

func policyCheckCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "validate a policy file and summarise its rules",
		ArgsUsage: "FILE",
		Description: Prose(`Validates the whole policy file and prints its rules in order, with every default filled in.
			An invalid file prints every problem with its line, rule and field, and exits with status 1.
			Warnings (rules that can never match, labels the model does not know) do not fail the check
			unless --strict is given.`),
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: flagJSON, Usage: "Print the result as JSON (also for invalid files, with their errors)."},
			&cli.StringFlag{Name: policyFlagClasses, EnvVars: []string{"FLOWSIEVE_POLICY_CLASSES"},
				Usage: "Comma-separated class names of the model the policy will run with; labels the policy names that are not among them are reported as warnings."},
			&cli.BoolFlag{Name: policyFlagStrict, Usage: "Treat warnings as errors: exit with status 1 when there are any."},
		},
		Action: runPolicyCheck,
	}
}

func runPolicyCheck(c *cli.Context) error {
	args, err := interspersedFlags(c)
	if err != nil {
		return cli.Exit("policy check: "+err.Error(), 2)
	}
	if len(args) != 1 {
		return cli.Exit("policy check: want exactly one policy file; usage: flowsieve policy check FILE [--json]", 2)
	}
	file := args[0]
	asJSON := c.Bool(flagJSON)
	w := c.App.Writer

	p, _, err := config.LoadPolicy(file)
	if err != nil {
		if asJSON {
			r := policyReport{File: file, Valid: false, Errors: policyErrorLines(err)}
			if werr := writePolicyJSON(w, r); werr != nil {
				return cli.Exit("policy check: "+werr.Error(), 1)
			}
		}
		if !errors.Is(err, policy.ErrInvalid) { // unreadable file rather than bad content
			return cli.Exit("policy check: "+err.Error(), 1)
		}
		return cli.Exit(fmt.Sprintf("policy check: %s is invalid:\n%v", file, err), 1)
	}
	r := newPolicyReport(file, p)
	if classes := c.String(policyFlagClasses); classes != "" {
		var names []string
		for n := range strings.SplitSeq(classes, ",") {
			names = append(names, strings.TrimSpace(n))
		}
		for _, l := range p.Bind(names).UnknownLabels() {
			r.Warnings = append(r.Warnings, fmt.Sprintf("label %q is not a class of the model (%s): rules naming only it never match", l, classes))
		}
	}
	if asJSON {
		err = writePolicyJSON(w, r)
	} else {
		err = writePolicyReport(w, r)
	}
	if err != nil {
		return cli.Exit("policy check: "+err.Error(), 1)
	}
	if c.Bool(policyFlagStrict) && len(r.Warnings) > 0 {
		return cli.Exit(fmt.Sprintf("policy check: %s has %d warning(s) and --strict is set", file, len(r.Warnings)), 1)
	}
	return nil
}

// policyReport is what policy check (and later policy show) prints, as text or JSON.
type policyReport struct {
	File            string       `json:"file"`
	Valid           bool         `json:"valid"`
	Errors          []string     `json:"errors,omitempty"`
	Rules           []policyRule `json:"rules,omitempty"`
	Default         *policyRule  `json:"default,omitempty"`
	Unknown         *policyRule  `json:"unknown,omitempty"` // UNKNOWN flows no anomaly rule matches
	Allowlist       []string     `json:"allowlist,omitempty"`
	AllowlistAction string       `json:"allowlist_action,omitempty"`
	Warnings        []string     `json:"warnings,omitempty"`
	// Mitigation is the mitigation section with defaults filled in; mitigation
	// is the same as text lines.
	Mitigation *policy.MitigationSpec `json:"mitigation,omitempty"`
	mitigation [][2]string
}

// policyRule is one rule with every default filled in.
type policyRule struct {
	Name           string   `json:"name"`
	Labels         []string `json:"labels"` // ["*"] for every label
	MinProbability float32  `json:"min_probability"`
	Anomaly        string   `json:"anomaly"` // "yes" (UNKNOWN flows only) or "no" (the others)
	Action         string   `json:"action"`
	DSCP           *uint8   `json:"dscp,omitempty"`
	Scope          string   `json:"scope"`
	PrefixV4       uint8    `json:"prefix_v4,omitempty"`
	PrefixV6       uint8    `json:"prefix_v6,omitempty"`
	TTL            string   `json:"ttl"`
}

func newPolicyReport(file string, p *policy.Policy) policyReport {
	r := policyReport{File: file, Valid: true, AllowlistAction: p.AllowlistAction().String(), Warnings: p.Warnings()}
	for _, ru := range p.Rules() {
		r.Rules = append(r.Rules, reportRule(ru))
	}
	def, unk := reportRule(p.DefaultRule()), reportRule(p.UnknownOutcome())
	r.Default, r.Unknown = &def, &unk
	for _, a := range p.Allowlist() {
		r.Allowlist = append(r.Allowlist, a.String())
	}
	reportMitigation(&r, p)
	return r
}

func reportRule(ru policy.Rule) policyRule {
	out := policyRule{Name: ru.Name, Labels: ru.Labels, MinProbability: ru.MinProbability, Anomaly: "no",
		Action: ru.Action.String(), Scope: ru.Scope.String(), PrefixV4: ru.PrefixV4, PrefixV6: ru.PrefixV6, TTL: policy.ShortDuration(ru.TTL)}
	if len(out.Labels) == 0 {
		out.Labels = []string{"*"}
	}
	if ru.Anomaly != nil && *ru.Anomaly {
		out.Anomaly = "yes"
	}
	if ru.Action == policy.ActionTag {
		d := ru.DSCP
		out.DSCP = &d
	}
	return out
}

// writePolicyReport prints a valid policy as a table, then its allowlist and warnings.
func writePolicyReport(w io.Writer, r policyReport) error {
	fmt.Fprintf(w, "%s: valid: %s, %s, default %s\n\n", r.File, policyPlural(len(r.Rules), "rule", "rules"),
		policyPlural(len(r.Allowlist), "allowlist entry", "allowlist entries"), r.Default.Action)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tNAME\tLABELS\tMIN PROB\tANOMALY\tACTION\tSCOPE\tTTL")
	row := func(n string, ru policyRule) {
		act := ru.Action
		if ru.DSCP != nil {
			act += " dscp=" + strconv.Itoa(int(*ru.DSCP))
		}
		scope := ru.Scope
		if ru.Scope == policy.ScopePrefix.String() {
			scope += fmt.Sprintf(" /%d /%d", ru.PrefixV4, ru.PrefixV6)
		}
		prob := "-"
		if ru.MinProbability > 0 {
			prob = strconv.FormatFloat(float64(ru.MinProbability), 'g', 4, 32)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n, ru.Name, strings.Join(ru.Labels, ", "), prob, ru.Anomaly, act, scope, ru.TTL)
	}
	for i, ru := range r.Rules {
		row(strconv.Itoa(i+1), ru)
	}
	row("-", *r.Default)
	row("-", *r.Unknown)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(r.Allowlist) > 0 {
		fmt.Fprintf(w, "allowlist (never DROP or TAG; these sources get %s instead): %s\n", r.AllowlistAction, strings.Join(r.Allowlist, ", "))
	} else {
		fmt.Fprintln(w, "allowlist: empty")
	}
	writeMitigation(w, r.mitigation)
	for _, wn := range r.Warnings {
		fmt.Fprintln(w, "warning:", wn)
	}
	return nil
}

func writePolicyJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// policyErrorLines splits a joined error into its lines.
func policyErrorLines(err error) []string {
	return strings.Split(err.Error(), "\n")
}

// interspersedFlags applies the command's flags that follow its positional arguments
// ("policy check FILE --json"), which urfave/cli v2 leaves in Args, and returns the
// positional arguments. "--" ends flag parsing.
func interspersedFlags(c *cli.Context) ([]string, error) {
	known := map[string]cli.Flag{}
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			known[n] = f
		}
	}
	var pos []string
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f, ok := known[name]
		if !ok {
			return nil, fmt.Errorf("unknown flag %s", a)
		}
		if _, isBool := f.(*cli.BoolFlag); isBool {
			if !hasVal {
				val = "true"
			}
		} else if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %s needs a value", a)
			}
			i++
			val = args[i]
		}
		if err := c.Set(name, val); err != nil {
			return nil, fmt.Errorf("flag %s: %w", a, err)
		}
	}
	return pos, nil
}

func policyPlural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
