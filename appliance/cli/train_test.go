package cli

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/model"
)

// flowTable writes a labelled flowsieve flow table: "attack" flows are short and
// fast, "benign" ones long, with some overlap.
func flowTable(t *testing.T, n int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp," + strings.Join(features.Names[:], ",") + ",Label\n")
	for i := range n {
		label := "BENIGN"
		dur := rng.ExpFloat64() * 1e6
		if i%3 == 0 {
			label = "DDoS"
			dur = rng.ExpFloat64() * 1e4
		}
		fmt.Fprintf(&b, "10.0.0.%d,%d,10.0.1.1,80,6,2017-07-07 12:00:00.000000", i%250, 1024+i)
		for j := range features.NumFeatures {
			v := rng.Float64() * 100
			if j == features.FlowDuration {
				v = dur
			}
			if j == features.FlowBytesPerSec && i%50 == 0 {
				fmt.Fprintf(&b, ",Infinity")
				continue
			}
			fmt.Fprintf(&b, ",%.3f", v)
		}
		fmt.Fprintf(&b, ",%s\n", label)
	}
	return writeFile(t, t.TempDir(), "flows.csv", b.String())
}

func runLearn(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut strings.Builder
	code := Run(append([]string{"flowsieve"}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestTrainEvalShow(t *testing.T) {
	data := flowTable(t, 3000, 1)
	dir := t.TempDir()
	mpath := filepath.Join(dir, "m.json")
	out, errOut, code := runLearn(t, "train", "--data", data, "--max-depth", "6", "--class-weight", "balanced", "--out", mpath)
	if code != 0 {
		t.Fatalf("train: %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"precision    recall  f1-score   support", "macro avg", "weighted avg", "confusion matrix", `schema "flow"`} {
		if !strings.Contains(out, want) {
			t.Errorf("train output lacks %q:\n%s", want, out)
		}
	}
	m, err := model.Load(mpath)
	if err != nil {
		t.Fatal(err)
	}
	if m.Training == nil || m.Training.TestRows != 600 || m.Training.HeldOut == nil || m.Training.HeldOut.Accuracy < 0.9 {
		t.Errorf("training metadata: %+v", m.Training)
	}
	plot := filepath.Join(dir, "cm.png")
	out, errOut, code = runLearn(t, "eval", "--model", mpath, "--data", flowTable(t, 500, 2), "--json", "--plot", plot)
	if code != 0 {
		t.Fatalf("eval: %d\n%s\n%s", code, out, errOut)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, out)
	}
	for _, k := range []string{"accuracy", "macro_f1", "weighted_f1", "classes", "confusion"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("eval --json lacks %q", k)
		}
	}
	if acc := rep["accuracy"].(float64); acc < 0.9 {
		t.Errorf("accuracy on fresh data %v", acc)
	}
	if st, err := os.Stat(plot); err != nil || st.Size() < 1000 {
		t.Errorf("plot: %v", err)
	}
	out, _, code = runLearn(t, "model", "show", mpath)
	if code != 0 || !strings.Contains(out, "Flow Duration") || !strings.Contains(out, "features used") || !strings.Contains(out, "|--- ") {
		t.Errorf("model show (%d):\n%s", code, out)
	}
	out, _, code = runLearn(t, "model", "show", "--dot", mpath)
	if code != 0 || !strings.HasPrefix(out, "digraph tree {") {
		t.Errorf("model show --dot (%d):\n%s", code, out)
	}
}

func TestTrainErrors(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.csv", "a,b,label\n1,2,x\n1,oops,y\n")
	mpath := filepath.Join(dir, "m.json")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"train", "--data", bad, "--out", mpath}, `bad.csv:3: column "b"`},
		{[]string{"train", "--data", bad, "--out", mpath, "--criterion", "mse"}, "gini or entropy"},
		{[]string{"train", "--data", flowTable(t, 50, 1), "--out", mpath, "--class-weight", "Nope=2"}, `no class "Nope"`},
		{[]string{"eval", "--model", bad, "--data", bad}, "model"},
		{[]string{"model", "show", filepath.Join(dir, "none.json")}, "no such file"},
	}
	for _, tt := range tests {
		_, errOut, code := runLearn(t, tt.args...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
	// --skip-bad-rows continues
	_, errOut, code := runLearn(t, "train", "--data", bad, "--out", mpath, "--skip-bad-rows", "--test-split", "0")
	if code != 0 || !strings.Contains(errOut, "skipped 1 malformed rows") {
		t.Errorf("skip-bad-rows: code %d, %s", code, errOut)
	}
}
