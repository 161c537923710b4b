package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/cluster"
)

// clusterSharedData returns ../shared/data relative to the module root, skipping when absent.
func clusterSharedData(t *testing.T, sub string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data", sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data %s not found (%v): run inside the project workspace", p, err)
	}
	return p
}

func clusterRunCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(append([]string{"flowsieve"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestClusterCaptures(t *testing.T) {
	dir := clusterSharedData(t, "aucad/iot-sentinel")
	data := []string{"--data", filepath.Join(dir, "Aria"), "--data", filepath.Join(dir, "HueBridge"), "--data", filepath.Join(dir, "D-LinkCam")}
	tmp := t.TempDir()
	model := filepath.Join(tmp, "km.json")
	code, out, errs := clusterRunCLI(append([]string{"cluster", "--k", "4", "--json", "--label-dirs", "--plot", tmp, "--out", model}, data...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	for _, key := range []string{"k", "rows", "features", "inertia", "sizes", "silhouette", "clusters", "purity", "adjusted_rand_index"} {
		if _, ok := res[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	if res["k"].(float64) != 4 || len(res["sizes"].([]any)) != 4 || res["rows"].(float64) < 100 {
		t.Errorf("k %v, sizes %v, rows %v", res["k"], res["sizes"], res["rows"])
	}
	sum := 0.0
	for _, s := range res["sizes"].([]any) {
		sum += s.(float64)
	}
	if sum != res["rows"].(float64) {
		t.Errorf("sizes sum to %v, rows %v", sum, res["rows"])
	}
	for _, f := range []string{"cluster_pca.png", "cluster_sizes.svg", "cluster_centres.png"} {
		if _, err := os.Stat(filepath.Join(tmp, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := cluster.Load(model); err != nil {
		t.Errorf("saved model: %v", err)
	}
	// Same seed, same result.
	_, out2, _ := clusterRunCLI(append([]string{"cluster", "--k", "4", "--json", "--label-dirs"}, data...)...)
	var res2 map[string]any
	json.Unmarshal([]byte(out2), &res2)
	if res2["inertia"] != res["inertia"] {
		t.Errorf("inertia %v then %v with the same seed", res["inertia"], res2["inertia"])
	}
	// Hosts, k-range and the text table.
	code, out, errs = clusterRunCLI(append([]string{"cluster", "--by", "source", "--k-range", "2:4", "--label-dirs"}, data...)...)
	if code != 0 {
		t.Fatalf("--by source: exit %d: %s", code, errs)
	}
	for _, want := range []string{"silhouette", "using k =", "hosts from", "purity", "Flows"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestClusterErrors(t *testing.T) {
	dir := clusterSharedData(t, "aucad/iot-sentinel")
	aria := filepath.Join(dir, "Aria")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no k", []string{"cluster", "--data", aria}, "--k"},
		{"bad by", []string{"cluster", "--data", aria, "--k", "2", "--by", "port"}, "--by"},
		{"bad range", []string{"cluster", "--data", aria, "--k-range", "5:2"}, "--k-range"},
		{"bad transform", []string{"cluster", "--data", aria, "--k", "2", "--transform", "cube"}, "transform"},
		{"missing file", []string{"cluster", "--data", filepath.Join(aria, "nope.pcap"), "--k", "2"}, "nope.pcap"},
		{"k above rows", []string{"cluster", "--data", filepath.Join(aria, "Setup-A-1-STA.pcap"), "--k", "100000"}, "fewer rows than clusters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := clusterRunCLI(tc.args...)
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q: want failure mentioning %q", code, errs, tc.want)
			}
		})
	}
}
