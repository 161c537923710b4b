// Command crossdata prints the cross-source (leave-one-source-out) table of flowsieve's
// flow models: per real source held out, a model trained on every other source (the
// generated mix included) gives that source's attack recall or benign false-positive
// rate of flows; the generated mix is scored on a capture of another seed. It compares
// the candidate feature sets (engine/training.FeatureSets) and writes the table as
// Markdown, JSON and a PNG.
//
//	flowsieve dataset build --out /tmp/ow configs/datasets/open-world.yaml
//	go run ./bench/crossdata -rows /tmp/ow -out /tmp/crossdata
package main

import (
	"cmp"
	"encoding/json"

	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	benchengine "github.com/flowsieve/flowsieve/bench/engine"
	"github.com/flowsieve/flowsieve/bench/traffic"
	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/report"
	"github.com/flowsieve/flowsieve/engine/training"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// Config is one cross-source run.
type Config struct {
	Rows      string        // folder written by flowsieve dataset build (rows.csv, sources.json)
	Sets      []string      // feature sets to compare (nil: all)
	Generated time.Duration // length of each generated capture (0: no generated mix)
	Decision  int           // decision point of the generated rows (the manifest's)
	Tree      tree.Params
	Weight    string // class weight spec (balanced)
	Binary    bool   // train and score on BENIGN against one ATTACK class
	OpenSet   training.OpenSet
	// BalanceSources weighs every source the same within each class.
	BalanceSources bool
	// Thresholds chooses per-label thresholds on each fold's training sources (nested
	// leave-one-source-out, CPU-heavy) and, on every source, those of the policy.
	Thresholds bool
	FPCost     float64 // cost of a false positive against a miss (0: training.DefaultFPCost)
}

// Result is the table: per feature set, the held-out figures.
type Result struct {
	Sets    []SetResult `json:"feature_sets"`
	Chosen  string      `json:"chosen"` // the set of the lowest LOSO error
	OpenSet bool        `json:"open_set"`
	// PolicyThresholds are the per-label thresholds of the chosen set chosen on every
	// source's leave-one-source-out predictions: the shipped policy's min_probability.
	PolicyThresholds training.Thresholds `json:"policy_thresholds,omitempty"`
}

// SetResult is one feature set's column of the table.
type SetResult struct {
	Name        string             `json:"name"`
	Features    int                `json:"features"`
	HeldOut     []training.HeldOut `json:"held_out"`
	GeneratedF1 float64            `json:"generated_macro_f1"`
	// GeneratedOwnF1 is the macro-F1 over the generated mix's own classes only.
	GeneratedOwnF1  float64 `json:"generated_own_macro_f1"`
	WorstBenignFPR  float64 `json:"worst_benign_fpr"`
	WorstAttackRecl float64 `json:"worst_attack_recall"`
	MeanBenignFPR   float64 `json:"mean_benign_fpr"`
	MeanAttackRecl  float64 `json:"mean_attack_recall"`
	// Error is (mean benign FPR + mean attack miss rate) / 2 over the held-out
	// sources: the figure the deployed feature set is chosen by (lowest wins).
	Error float64 `json:"loso_error"`
	// Reliability of the held-out predictions of every fold together.
	Reliability training.Reliability   `json:"reliability"`
	Generated   *report.Classification `json:"-"`
}

// roles reads sources.json.
func roles(dir string) (map[string]dataset.Role, error) {
	b, err := os.ReadFile(filepath.Join(dir, "sources.json"))
	if err != nil {
		return nil, err
	}
	var s []struct {
		Name string       `json:"name"`
		Role dataset.Role `json:"role"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "sources.json"), err)
	}
	out := map[string]dataset.Role{}
	for _, e := range s {
		out[e.Name] = e.Role
	}
	return out, nil
}

// generated returns the rows of the mixed scenario of one seed, source name name.
func generated(c Config, seed uint64, name string) (*dataset.Dataset, error) {
	capt, err := benchengine.Generate(traffic.Config{Scenario: "mixed", Seed: seed, Duration: c.Generated})
	if err != nil {
		return nil, err
	}
	d, err := benchengine.Dataset(capt, c.Decision)
	if err != nil {
		return nil, err
	}
	for i := range d.Meta.Source {
		d.Meta.Source[i] = name
	}
	return d, nil
}

// Run computes the table.
func Run(c Config, log io.Writer) (*Result, error) {
	rs, err := roles(c.Rows)
	if err != nil {
		return nil, err
	}
	d, err := dataset.Load([]string{filepath.Join(c.Rows, "rows.csv")}, dataset.Options{})
	if err != nil {
		return nil, err
	}
	if d, err = d.Columns(features.Names[:]); err != nil {
		return nil, err
	}
	var genTest *dataset.Dataset
	if c.Generated > 0 {
		if genTest, err = generated(c, 2, "generated-mixed-seed2"); err != nil {
			return nil, err
		}
		if !hasRole(rs, dataset.RoleGenerated) {
			genTrain, err := generated(c, 1, "generated-mixed")
			if err != nil {
				return nil, err
			}
			if d, err = dataset.Concat(d, genTrain); err != nil {
				return nil, err
			}
			rs["generated-mixed"] = dataset.RoleGenerated
			fmt.Fprintf(log, "generated mix: %d training rows (seed 1, in memory)\n", genTrain.X.Len)
		}
		fmt.Fprintf(log, "generated mix: %d test rows (seed 2)\n", genTest.X.Len)
	}
	if c.Binary {
		binary(d)
		if genTest != nil {
			binary(genTest)
		}
	}
	sets := c.Sets
	if sets == nil {
		for _, s := range training.FeatureSets {
			sets = append(sets, s.Name)
		}
	}
	o := training.Options{Tree: c.Tree, ClassWeight: c.Weight, Decision: c.Decision, BalanceSources: c.BalanceSources}
	res := &Result{OpenSet: c.OpenSet.K > 0}
	ev := training.Eval{Open: c.OpenSet, FPCost: c.FPCost, Explain: true}
	for _, name := range sets {
		fs, err := training.FeatureSetByName(name)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		h, err := training.LeaveOneSourceOut(d, rs, fs.Names(), o, ev)
		if err != nil {
			return nil, err
		}
		sr := SetResult{Name: name, Features: len(fs.Names()), HeldOut: h, WorstAttackRecl: 1}
		nb, na := 0, 0
		for _, e := range h {
			sr.Reliability.Merge(&e.Reliability)
			switch e.Role {
			case dataset.RoleBenign:
				sr.WorstBenignFPR = max(sr.WorstBenignFPR, e.Rate)
				sr.MeanBenignFPR += e.Rate
				nb++
			case dataset.RoleAttack:
				sr.WorstAttackRecl = min(sr.WorstAttackRecl, e.Rate)
				sr.MeanAttackRecl += e.Rate
				na++
			}
		}
		sr.MeanBenignFPR /= float64(max(nb, 1))
		sr.MeanAttackRecl /= float64(max(na, 1))
		sr.Error = (sr.MeanBenignFPR + 1 - sr.MeanAttackRecl) / 2
		if genTest != nil {
			sub, _ := d.Columns(fs.Names())
			m, err := training.Fit(sub, o)
			if err != nil {
				return nil, err
			}
			test, _ := genTest.Columns(fs.Names())
			cr, err := training.Evaluate(m, test)
			if err != nil {
				return nil, err
			}
			sr.GeneratedF1, sr.GeneratedOwnF1, sr.Generated = cr.Macro.F1, ownMacroF1(cr), cr
		}
		fmt.Fprintf(log, "%-15s %2d features: LOSO error %.4f, worst benign FPR %.4f, worst attack recall %.4f, generated macro-F1 %.4f (%v)\n",
			name, sr.Features, sr.Error, sr.WorstBenignFPR, sr.WorstAttackRecl, sr.GeneratedF1, time.Since(start).Round(time.Millisecond))
		res.Sets = append(res.Sets, sr)
		if res.Chosen == "" || sr.Error < res.setByName(res.Chosen).Error {
			res.Chosen = name
		}
	}
	if c.Thresholds && res.Chosen != "" {
		if err := res.thresholds(d, rs, o, ev, log); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// thresholds reruns the chosen set's folds with per-label thresholds chosen on each
// fold's training sources (the tree, and so the choice of set, is the same) and
// chooses the policy's thresholds on every source.
func (r *Result) thresholds(d *dataset.Dataset, rs map[string]dataset.Role, o training.Options, ev training.Eval, log io.Writer) error {
	start := time.Now()
	sr := r.setByName(r.Chosen)
	fs, _ := training.FeatureSetByName(r.Chosen)
	ev.Thresholds = true
	h, err := training.LeaveOneSourceOut(d, rs, fs.Names(), o, ev)
	if err != nil {
		return err
	}
	sr.HeldOut = h
	sub, _ := d.Columns(fs.Names())
	preds, err := training.OutOfFold(sub, rs, o)
	if err != nil {
		return err
	}
	r.PolicyThresholds = training.ChooseThresholds(preds, cmp.Or(ev.FPCost, training.DefaultFPCost))
	fmt.Fprintf(log, "%-15s thresholds chosen per fold and for the policy (%v)\n", r.Chosen, time.Since(start).Round(time.Millisecond))
	return nil
}

// Markdown writes the table: one row per held-out source, one column per feature set.
func (r *Result) Markdown(w io.Writer) {
	var head, rule strings.Builder
	head.WriteString("| held-out source | role | flows |")
	rule.WriteString("|---|---|---:|")
	for _, s := range r.Sets {
		fmt.Fprintf(&head, " %s (%d) |", s.Name, s.Features)
		rule.WriteString("---:|")
	}
	fmt.Fprintln(w, head.String())
	fmt.Fprintln(w, rule.String())
	if len(r.Sets) == 0 {
		return
	}
	for i, h := range r.Sets[0].HeldOut {
		what := "benign FPR"
		if h.Role == dataset.RoleAttack {
			what = "attack recall"
		}
		fmt.Fprintf(w, "| %s | %s (%s) | %d |", h.Source, h.Role, what, h.Flows)
		for _, s := range r.Sets {
			fmt.Fprintf(w, " %.2f%% |", 100*s.HeldOut[i].Rate)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "| generated mix, seed 2 | generated (macro-F1) | |")
	for _, s := range r.Sets {
		fmt.Fprintf(w, " %.4f |", s.GeneratedF1)
	}
	fmt.Fprint(w, "\n| generated mix, seed 2 | generated (macro-F1 of its own classes) | |")
	for _, s := range r.Sets {
		fmt.Fprintf(w, " %.4f |", s.GeneratedOwnF1)
	}
	fmt.Fprint(w, "\n| **mean benign FPR** | | |")
	for _, s := range r.Sets {
		fmt.Fprintf(w, " %.2f%% |", 100*s.MeanBenignFPR)
	}
	fmt.Fprint(w, "\n| **mean attack recall** | | |")
	for _, s := range r.Sets {
		fmt.Fprintf(w, " %.2f%% |", 100*s.MeanAttackRecl)
	}
	fmt.Fprint(w, "\n| **LOSO error** (chosen: lowest) | | |")
	for _, s := range r.Sets {
		mark := ""
		if s.Name == r.Chosen {
			mark = " **chosen**"
		}
		fmt.Fprintf(w, " %.4f%s |", s.Error, mark)
	}
	fmt.Fprintln(w)
	c := r.setByName(r.Chosen)
	if c == nil {
		return
	}
	r.outcomes(w, c)
	fmt.Fprintf(w, "\nReliability of the held-out predictions (%s, every fold): the predicted class's leaf probability against how often it was the flow's label.\n\n", c.Name)
	c.Reliability.Markdown(w)
	if c.Generated != nil {
		generatedClasses(w, c)
	}
	explain(w, c)
}

// generatedClasses writes the generated mix's per-class scores with the flows each
// class lost to others (a class it has no flow of counts in scikit-learn's macro-F1 with
// F1 0 when predicted: the flows it was predicted for are listed).
func generatedClasses(w io.Writer, c *SetResult) {
	g := c.Generated
	fmt.Fprintf(w, "\nGenerated mix, seed 2 (%s, trained on every source): per class; macro-F1 %.4f over every label seen, %.4f over the mix's own %d classes.\n\n",
		c.Name, g.Macro.F1, c.GeneratedOwnF1, ownClasses(g))
	fmt.Fprintln(w, "| class | precision | recall | F1 | flows | its flows called | called for flows of |\n|---|---:|---:|---:|---:|---|---|")
	for i, k := range g.Classes {
		var lost, took []string
		for j := range g.Labels {
			if j == i {
				continue
			}
			if n := g.Confusion[i][j]; n > 0 {
				lost = append(lost, fmt.Sprintf("%s %d", g.Labels[j], n))
			}
			if n := g.Confusion[j][i]; n > 0 {
				took = append(took, fmt.Sprintf("%s %d", g.Labels[j], n))
			}
		}
		fmt.Fprintf(w, "| %s | %.4f | %.4f | %.4f | %d | %s | %s |\n", k.Name, k.Precision, k.Recall, k.F1, k.Support, strings.Join(lost, ", "), strings.Join(took, ", "))
	}
}

// ownClasses counts the classes with flows in g.
func ownClasses(g *report.Classification) int {
	n := 0
	for _, k := range g.Classes {
		if k.Support > 0 {
			n++
		}
	}
	return n
}

// ownMacroF1 is the macro-F1 over the classes with flows in g.
func ownMacroF1(g *report.Classification) float64 {
	sum := 0.0
	for _, k := range g.Classes {
		if k.Support > 0 {
			sum += k.F1
		}
	}
	return sum / float64(max(ownClasses(g), 1))
}

// outcomes writes what the policy does with each held-out source's flows: called an
// attack under the fold's thresholds, UNKNOWN, dropped and alerted.
func (r *Result) outcomes(w io.Writer, c *SetResult) {
	fmt.Fprintf(w, "\nOutcomes (%s): \"called\" is an attack label at or above its threshold (chosen on the fold's training sources; the tree's argmax without -thresholds); UNKNOWN flows are far from every training cluster; \"dropped\" is called and not UNKNOWN, \"alerted\" an attack label at any probability or UNKNOWN.\n\n", c.Name)
	fmt.Fprintln(w, "| held-out source | role | tree | called | UNKNOWN | dropped | alerted |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	for _, h := range c.HeldOut {
		fmt.Fprintf(w, "| %s | %s | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %.2f%% |\n", h.Source, h.Role, 100*h.Rate, 100*h.CalledRate,
			100*float64(h.Unknown)/float64(max(h.Flows, 1)), 100*h.DropRate, 100*h.AlertRate)
	}
	if len(r.PolicyThresholds) > 0 {
		fmt.Fprintln(w, "\nPer-label thresholds chosen on every source's leave-one-source-out predictions (the shipped policy's min_probability; never: flows called it only alert):")
		fmt.Fprintln(w)
		for _, l := range r.PolicyThresholds.Labels() {
			t := fmt.Sprint(r.PolicyThresholds[l])
			if r.PolicyThresholds[l] >= training.Never {
				t = "never"
			}
			fmt.Fprintf(w, "- %s: %s\n", l, t)
		}
	}
}

// explain writes, per held-out source, where the tree's errors come from.
func explain(w io.Writer, c *SetResult) {
	fmt.Fprintf(w, "\nWhy the errors (%s): per held-out source, the labels the tree gave its wrong flows (benign called an attack, attack called BENIGN), the captures they come from (flows wrong of the capture's flows) and the leaves that carry most, with the feature ranges of their paths.\n", c.Name)
	for _, h := range c.HeldOut {
		e := h.Explain
		if e == nil || e.Errors == 0 {
			continue
		}
		fmt.Fprintf(w, "\n#### %s (%s): %d of %d flows wrong\n\n", h.Source, h.Role, e.Errors, h.Flows)
		fmt.Fprintf(w, "- labels: %s\n- captures: %s\n", counts(e.Labels), counts(e.Captures))
		for _, l := range e.Leaves[:min(len(e.Leaves), 4)] {
			fmt.Fprintf(w, "- leaf %d (%s, p %.2f): %d flows: %s\n", l.Node, l.Label, l.Prob, l.N, strings.Join(l.Ranges, "; "))
		}
	}
}

func counts(cs []training.Count) string {
	var parts []string
	for _, c := range cs {
		if c.Of > 0 {
			parts = append(parts, fmt.Sprintf("%s %d/%d", c.Name, c.N, c.Of))
		} else {
			parts = append(parts, fmt.Sprintf("%s %d", c.Name, c.N))
		}
	}
	return strings.Join(parts, ", ")
}

func (r *Result) setByName(name string) *SetResult {
	for i := range r.Sets {
		if r.Sets[i].Name == name {
			return &r.Sets[i]
		}
	}
	return nil
}

// binary relabels every attack row ATTACK.
func binary(d *dataset.Dataset) {
	for i, l := range d.Labels {
		if l != training.Benign {
			d.Labels[i] = "ATTACK"
		}
	}
}

func hasRole(rs map[string]dataset.Role, r dataset.Role) bool {
	for _, v := range rs {
		if v == r {
			return true
		}
	}
	return false
}
