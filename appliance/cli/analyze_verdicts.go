package cli

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/config"
	"github.com/flowsieve/flowsieve/configs"
	"github.com/flowsieve/flowsieve/engine/flow"
	"github.com/flowsieve/flowsieve/engine/inspect"
	"github.com/flowsieve/flowsieve/engine/policy"
	"github.com/flowsieve/flowsieve/engine/source"
)

// Flag names of analyze's classification.
const (
	analyzeFlagModel  = "model"
	analyzeFlagPolicy = "policy"
)

// analyzeVerdictFlags are the flags that add verdicts to analyze.
func analyzeVerdictFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: analyzeFlagModel, EnvVars: []string{"FLOWSIEVE_MODEL"},
			Usage: "Classify every flow with this model file (schema \"flow\"; default names the model built into flowsieve) as the appliance would, at the model's decision point or at the flow's end, and add a verdicts section to the summary."},
		&cli.StringFlag{Name: analyzeFlagPolicy, EnvVars: []string{"FLOWSIEVE_POLICY"},
			Usage: "Decide the classified flows with this policy file (YAML, as flowsieve policy check reads it). Without it every flow is passed. Needs --model."},
	}
}

// verdictSummary is the verdicts section of analyze: what the appliance's engine
// would have decided for the captures' flows.
type verdictSummary struct {
	Model           string            `json:"model"`
	Policy          string            `json:"policy,omitempty"`
	DecisionPackets int               `json:"decision_packets"`
	Classified      uint64            `json:"classified"`
	Early           uint64            `json:"early"`
	AtEnd           uint64            `json:"at_end"`
	Anomalies       uint64            `json:"anomalies"`
	PerAction       map[string]uint64 `json:"per_action"`
	PerLabel        []labelVerdicts   `json:"per_label"`
	DroppedPackets  uint64            `json:"dropped_packets"` // packets after their own flow's DROP decision (scopes source and prefix would drop more)
	TopDropped      []droppedSource   `json:"top_dropped_sources"`
	Warnings        []string          `json:"warnings,omitempty"`
}

// labelVerdicts are the verdicts of flows classified as one label.
type labelVerdicts struct {
	Label     string            `json:"label"`
	Flows     uint64            `json:"flows"`
	Early     uint64            `json:"early"`
	Anomalies uint64            `json:"anomalies"`
	Actions   map[string]uint64 `json:"actions"`
}

// droppedSource is a source address with flows decided DROP.
type droppedSource struct {
	Address string   `json:"address"`
	Flows   uint64   `json:"flows"`
	Packets uint64   `json:"packets_when_decided"`
	Labels  []string `json:"labels"`
}

// verdictCollector runs the engine's inspector over the frames analyze reads (the
// same code path as the appliance's workers) and tallies its verdicts.
type verdictCollector struct {
	in      *inspect.Inspector
	frames  []source.Frame
	arena   []byte
	sum     verdictSummary
	labels  map[string]*labelVerdicts
	dropped map[netip.Addr]*droppedSource
	dlabels map[netip.Addr]map[string]bool
}

// newVerdictCollector loads --model and --policy; it returns nil when --model is not
// given.
func newVerdictCollector(c *cli.Context, cfg flow.Config) (*verdictCollector, error) {
	mpath, ppath := c.String(analyzeFlagModel), c.String(analyzeFlagPolicy)
	if mpath == "" {
		if ppath != "" {
			return nil, fmt.Errorf("--%s needs --%s (the model whose classes the policy decides)", analyzeFlagPolicy, analyzeFlagModel)
		}
		return nil, nil
	}
	m, err := configs.LoadModel(mpath)
	if err != nil {
		return nil, err
	}
	var p *policy.Policy
	if ppath != "" {
		if p, _, err = config.LoadPolicy(ppath); err != nil {
			return nil, err
		}
	}
	ms, err := inspect.NewModels(m, p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mpath, err)
	}
	v := &verdictCollector{
		sum: verdictSummary{Model: mpath, Policy: ppath, DecisionPackets: ms.DecisionPoint(),
			PerAction: map[string]uint64{}},
		labels:  map[string]*labelVerdicts{},
		dropped: map[netip.Addr]*droppedSource{},
		dlabels: map[netip.Addr]map[string]bool{},
		frames:  make([]source.Frame, 0, inspect.DefaultBatchSize),
	}
	for _, l := range ms.Policy.UnknownLabels() {
		v.sum.Warnings = append(v.sum.Warnings, fmt.Sprintf("the policy names label %q, which the model has no class for", l))
	}
	var ptr atomic.Pointer[inspect.Models]
	ptr.Store(ms)
	if v.in, err = inspect.New(inspect.Config{Flow: cfg}, &ptr, v.verdict); err != nil {
		return nil, err
	}
	return v, nil
}

// frame queues a copy of f (its data is valid only until the next frame) and hands
// full receive batches to the inspector.
func (v *verdictCollector) frame(f *source.Frame) {
	if len(v.frames) == 0 {
		v.arena = v.arena[:0]
	}
	start := len(v.arena)
	v.arena = append(v.arena, f.Data...)
	fr := *f
	fr.Data = v.arena[start:len(v.arena):len(v.arena)]
	v.frames = append(v.frames, fr)
	if len(v.frames) == cap(v.frames) {
		v.in.Process(v.frames, nil)
		v.frames = v.frames[:0]
	}
}

// verdict tallies one verdict.
func (v *verdictCollector) verdict(vd *inspect.Verdict) {
	act := vd.Decision.Action.String()
	v.sum.PerAction[act]++
	l := v.labels[vd.Label]
	if l == nil {
		l = &labelVerdicts{Label: vd.Label, Actions: map[string]uint64{}}
		v.labels[vd.Label] = l
	}
	l.Flows++
	l.Actions[act]++
	if vd.Early {
		l.Early++
	}
	if vd.Anomaly {
		l.Anomalies++
	}
	if vd.Decision.Action == policy.ActionDrop {
		d := v.dropped[vd.Src]
		if d == nil {
			d = &droppedSource{Address: vd.Src.String()}
			v.dropped[vd.Src] = d
			v.dlabels[vd.Src] = map[string]bool{}
		}
		d.Flows++
		d.Packets += vd.Packets
		v.dlabels[vd.Src][vd.Label] = true
	}
}

// finish classifies what is left and returns the section with top dropped sources.
func (v *verdictCollector) finish(top int) *verdictSummary {
	if len(v.frames) > 0 {
		v.in.Process(v.frames, nil)
		v.frames = v.frames[:0]
	}
	v.in.End()
	st := v.in.Stats()
	s := &v.sum
	s.Classified, s.Early, s.AtEnd, s.Anomalies = st.Classified, st.Early, st.Classified-st.Early, st.Anomalies
	s.DroppedPackets = st.DroppedFrames
	for _, l := range v.labels {
		s.PerLabel = append(s.PerLabel, *l)
	}
	slices.SortFunc(s.PerLabel, func(a, b labelVerdicts) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), cmp.Compare(a.Label, b.Label))
	})
	for a, d := range v.dropped {
		for l := range v.dlabels[a] {
			d.Labels = append(d.Labels, l)
		}
		slices.Sort(d.Labels)
		s.TopDropped = append(s.TopDropped, *d)
	}
	slices.SortFunc(s.TopDropped, func(a, b droppedSource) int {
		return cmp.Or(cmp.Compare(b.Flows, a.Flows), cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.Address, b.Address))
	})
	s.TopDropped = s.TopDropped[:min(top, len(s.TopDropped))]
	if s.PerLabel == nil {
		s.PerLabel = []labelVerdicts{}
	}
	if s.TopDropped == nil {
		s.TopDropped = []droppedSource{}
	}
	return s
}

// writeVerdicts prints the verdicts section as text.
func writeVerdicts(w io.Writer, s *verdictSummary) {
	pol := s.Policy
	if pol == "" {
		pol = "none (every flow passes)"
	}
	when := fmt.Sprintf("after %d packets, or at the end of shorter flows", s.DecisionPackets)
	if s.DecisionPackets == 0 {
		when = "at the end of each flow"
	}
	fmt.Fprintf(w, "\nverdicts\tmodel %s, policy %s\n", s.Model, pol)
	fmt.Fprintf(w, "classified\t%d flows (%d early, %d at flow end; decided %s), %d anomalous\n",
		s.Classified, s.Early, s.AtEnd, when, s.Anomalies)
	fmt.Fprintf(w, "actions\t")
	for i, a := range []policy.Action{policy.ActionPass, policy.ActionDrop, policy.ActionTag, policy.ActionAlert} {
		if i > 0 {
			fmt.Fprint(w, ", ")
		}
		fmt.Fprintf(w, "%d %s", s.PerAction[a.String()], a)
	}
	fmt.Fprintf(w, "; %d packets of flows decided DROP came after the decision (flow scope only)\n", s.DroppedPackets)
	fmt.Fprintln(w, "\nlabel\tflows\tearly\tanomalous\tPASS\tDROP\tTAG\tALERT")
	for _, l := range s.PerLabel {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", l.Label, l.Flows, l.Early, l.Anomalies,
			l.Actions["PASS"], l.Actions["DROP"], l.Actions["TAG"], l.Actions["ALERT"])
	}
	if len(s.TopDropped) > 0 {
		fmt.Fprintln(w, "\ntop dropped sources\tflows\tpackets when decided\tlabels")
		for _, d := range s.TopDropped {
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", d.Address, d.Flows, d.Packets, strings.Join(d.Labels, ","))
		}
	}
	if len(s.Warnings) > 0 {
		fmt.Fprintln(w)
	}
	for _, m := range s.Warnings {
		fmt.Fprintf(w, "warning\t%s\n", m)
	}
}
