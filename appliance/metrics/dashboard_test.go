package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowsieve/flowsieve/appliance/fleet"
	"github.com/flowsieve/flowsieve/appliance/metrics"
)

// dashboardPath is the Grafana dashboard shipped for the daemon's metrics.
const dashboardPath = "../../configs/grafana/flowsieve.json"

// grafanaVars replaces the dashboard's variables with values PromQL parses.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__range", "1h", "$__interval", "1m",
	"${instance}", ".*", "$instance", ".*")

// rangeFuncs need a range vector: PromQL rejects them without [window] (MetricsQL
// would fill one in, so the test checks it).
var rangeFuncs = []string{"rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets",
	"avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time", "last_over_time"}

// panel is the part of a Grafana panel the test reads.
type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Panels  []panel `json:"panels"` // a row's panels
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// exported returns the metric names the daemon's collector describes, checking that
// metrics.Names and Describe agree.
func exported(t *testing.T) []string {
	t.Helper()
	names := metrics.Names()
	ch := make(chan *prometheus.Desc, 256)
	metrics.NewCollector(nil).Describe(ch)
	close(ch)
	var described []string
	re := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		m := re.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("description without a name: %s", d)
		}
		described = append(described, m[1])
	}
	slices.Sort(names)
	slices.Sort(described)
	if !slices.Equal(names, described) {
		t.Fatalf("metrics.Names %v and the collector's descriptions %v differ", names, described)
	}
	// A fleet member registers its own collector with the daemon's /metrics, and
	// so does the mitigation collector when the daemon has mitigation.
	for _, c := range []prometheus.Collector{(&fleet.Member{}).Collector(), metrics.NewMitigationCollector(nil)} {
		ch := make(chan *prometheus.Desc, 64)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			if m := re.FindStringSubmatch(d.String()); m != nil {
				names = append(names, m[1])
			}
		}
	}
	return names
}

// series returns the metric a series name belongs to: itself, or for a histogram's
// series (name_bucket, name_sum, name_count) the histogram's name when it is exported.
func series(name string, names []string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(names, base) {
			return base
		}
	}
	return name
}

// TestDashboardQueries parses every query of the dashboard and checks that each
// metric it names is one the daemon exports.
func TestDashboardQueries(t *testing.T) {
	names := exported(t)
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string  `json:"title"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", filepath.Base(dashboardPath), err)
	}
	var exprs []string
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q has an empty query", p.Title)
				}
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	used := map[string]bool{}
	for _, raw := range exprs {
		e, err := metricsql.Parse(grafanaVars.Replace(raw))
		if err != nil {
			t.Errorf("query %q: %v", raw, err)
			continue
		}
		metricsql.VisitAll(e, func(x metricsql.Expr) {
			switch x := x.(type) {
			case *metricsql.MetricExpr:
				for _, group := range x.LabelFilterss {
					for _, f := range group {
						if f.Label != "__name__" {
							continue
						}
						name := series(f.Value, names)
						used[name] = true
						if !slices.Contains(names, name) {
							t.Errorf("query %q names %s, which the daemon does not export", raw, f.Value)
						}
					}
				}
			case *metricsql.FuncExpr:
				if slices.Contains(rangeFuncs, strings.ToLower(x.Name)) {
					if len(x.Args) != 1 {
						t.Errorf("query %q: %s takes one range vector", raw, x.Name)
						return
					}
					if r, ok := x.Args[0].(*metricsql.RollupExpr); !ok || r.Window == nil {
						t.Errorf("query %q: %s needs a range [window]", raw, x.Name)
					}
				}
			}
		})
	}
	// The instance variable's label_values(metric, label) names a metric too.
	lv := regexp.MustCompile(`label_values\((\w+)`)
	for _, v := range d.Templating.List {
		if m := lv.FindStringSubmatch(v.Definition); m != nil && !slices.Contains(names, m[1]) {
			t.Errorf("variable %s queries %s, which the daemon does not export", v.Name, m[1])
		}
	}
	if len(exprs) < 20 {
		t.Errorf("only %d queries in the dashboard", len(exprs))
	}
	var unused []string
	for _, n := range names {
		if !used[n] {
			unused = append(unused, n)
		}
	}
	t.Logf("%d queries over %d of %d exported metrics; not charted: %v", len(exprs), len(used), len(names), unused)
}
