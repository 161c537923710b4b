package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/flowsieve/flowsieve/appliance/control"
)

// mitigationView is the mitigation part of stats: the victims under attack and
// the signatures installed, with each signature's hits per second over the last
// interval (watch mode only, keyed by slot).
type mitigationView struct {
	Victims    []control.VictimInfo    `json:"victims"`
	Signatures []control.SignatureInfo `json:"signatures"`
	HitRates   map[string]float64      `json:"hit_rates,omitempty"`
	Error      string                  `json:"error,omitempty"`
}

// readMitigation reads the victims and signatures from b, and the hit rates
// since prev (d ago). It returns nil when b has no mitigation (the daemon
// stopped, or one without it); other failures are kept in Error.
func readMitigation(ctx context.Context, b control.Backend, prev *mitigationView, d time.Duration) *mitigationView {
	mb, ok := b.(control.MitigationBackend)
	if !ok {
		return nil
	}
	var v mitigationView
	var err error
	if v.Victims, err = mb.VictimsList(ctx); err == nil {
		v.Signatures, err = mb.SignaturesList(ctx)
	}
	if errors.Is(err, control.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return &mitigationView{Error: err.Error()}
	}
	if prev == nil || d <= 0 {
		return &v
	}
	v.HitRates = map[string]float64{}
	for _, s := range v.Signatures {
		for _, p := range prev.Signatures {
			if p.Slot == s.Slot && p.Installed.Equal(s.Installed) && s.Hits >= p.Hits {
				v.HitRates[strconv.Itoa(s.Slot)] = float64(s.Hits-p.Hits) / d.Seconds()
			}
		}
	}
	return &v
}

// writeMitigationStats prints the victims under attack and the signatures
// installed, with hits per second when known.
func writeMitigationStats(w io.Writer, v *mitigationView) {
	if v == nil {
		return
	}
	if v.Error != "" {
		fmt.Fprintf(w, "mitigation: %s\n\n", v.Error)
		return
	}
	fmt.Fprintf(w, "mitigation: %d victims under attack, %d signatures installed\n", len(v.Victims), len(v.Signatures))
	if len(v.Victims) > 0 {
		writeVictims(w, v.Victims, time.Now())
	}
	if len(v.Signatures) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "SLOT\tVICTIM\tKIND\tACTION\tHITS\tHITS/S\t")
		for _, s := range v.Signatures {
			rate := "-"
			if r, ok := v.HitRates[strconv.Itoa(s.Slot)]; ok {
				rate = strconv.FormatFloat(r, 'f', 1, 64)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t\n", s.Slot, s.Victim, orDash(s.Kind, "-"), s.Action, s.Hits, rate)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
}
