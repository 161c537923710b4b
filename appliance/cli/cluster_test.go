package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/shareddata"

	"github.com/flowsieve/flowsieve/engine/cluster"
	"github.com/flowsieve/flowsieve/engine/model"
)

func clusterRunCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(append([]string{"flowsieve"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestClusterCaptures(t *testing.T) {
	dir := shareddata.Dir(t, "aucad/iot-sentinel")
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
	dir := shareddata.Dir(t, "aucad/iot-sentinel")
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

func TestClusterCSV(t *testing.T) {
	dir := shareddata.Dir(t, "cicids2017-improved/rnd_2500")
	code, out, errs := clusterRunCLI("cluster", "--data", filepath.Join(dir, "FTP-Patator_2500.csv"),
		"--data", filepath.Join(dir, "Portscan_2500.csv"), "--data", filepath.Join(dir, "BENIGN_2500.csv"), "--k", "3", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		K        int      `json:"k"`
		Rows     int      `json:"rows"`
		Features []string `json:"features"`
		Purity   float64  `json:"purity"`
		ARI      float64  `json:"adjusted_rand_index"`
		Clusters []struct {
			Labels []struct{ Value string } `json:"labels"`
			Ports  []struct{ Value string } `json:"top_dst_ports"`
		} `json:"clusters"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Rows < 7000 || len(res.Features) < 60 {
		t.Errorf("rows %d, %d features", res.Rows, len(res.Features))
	}
	for _, f := range res.Features {
		if f == "Destination Port" || f == "Protocol" || f == "Dst Port" {
			t.Errorf("identifier column %q used as a feature", f)
		}
	}
	// Three very different traffic kinds: the clusters should mostly follow them.
	if res.Purity < 0.8 || res.ARI < 0.5 {
		t.Errorf("purity %.3f, ARI %.3f on FTP-Patator / Portscan / BENIGN", res.Purity, res.ARI)
	}
	if len(res.Clusters) != 3 || len(res.Clusters[0].Labels) == 0 || len(res.Clusters[0].Ports) == 0 {
		t.Errorf("cluster summaries lack labels or ports: %+v", res.Clusters)
	}
}

func TestClusterInto(t *testing.T) {
	dir := shareddata.Dir(t, "aucad/iot-sentinel")
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "engine", "tree", "testdata", "gini_depth8.model.json"))
	if err != nil {
		t.Skipf("no tree model to embed into: %v", err)
	}
	path := writeFile(t, t.TempDir(), "model.json", string(raw))
	code, _, errs := clusterRunCLI("cluster", "--data", filepath.Join(dir, "Aria"), "--k", "3", "--quantile", "0.995", "--into", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	m, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Cluster == nil || m.Cluster.K() != 3 || m.Cluster.Quantile != 0.995 || len(m.Classes) != 4 {
		t.Fatalf("after --into: cluster %v, classes %v", m.Cluster, m.Classes)
	}
	// CIC columns outside the flow schema cannot go into a flow-schema model.
	cic := shareddata.Dir(t, "cicids2017-improved/rnd_2500")
	code, _, errs = clusterRunCLI("cluster", "--data", filepath.Join(cic, "Botnet_736.csv"), "--k", "2", "--into", path)
	if code == 0 || !strings.Contains(errs, "not a flow feature") {
		t.Errorf("exit %d, stderr %q: want a refusal naming the feature", code, errs)
	}
}
