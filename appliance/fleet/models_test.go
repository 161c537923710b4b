package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowsieve/flowsieve/appliance/control"
	"github.com/flowsieve/flowsieve/appliance/fleet/natstest"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// modelSlot loads model files the way the daemon's ModelLoad does up to the
// swap (engine/model.Load validates the file, BindFlow checks it classifies
// flows; a failure keeps the model in force) and records which one is in force.
type modelSlot struct {
	mu     sync.Mutex
	path   string
	loaded time.Time
	m      *model.Model
}

func (s *modelSlot) ModelLoad(_ context.Context, path string) (control.ModelInfo, error) {
	m, err := model.Load(path)
	if err != nil {
		return control.ModelInfo{}, err
	}
	if _, err := m.BindFlow(); err != nil { // the daemon classifies flows
		return control.ModelInfo{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.path, s.loaded, s.m = path, time.Now(), m
	return control.ModelInfo{Path: path, Classes: m.Classes, Loaded: s.loaded}, nil
}

func (s *modelSlot) ModelShow(context.Context) (control.ModelInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return control.ModelInfo{}, nil
	}
	return control.ModelInfo{Path: s.path, Classes: s.m.Classes, Loaded: s.loaded}, nil
}

func (s *modelSlot) classes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return nil
	}
	return s.m.Classes
}

// writeModel writes a valid two-class model whose second class is named attack.
func writeModel(t testing.TB, attack string) string {
	t.Helper()
	X := make([][]float32, features.NumFeatures)
	for j := range X {
		X[j] = []float32{0, 1, 0, 1}
	}
	tr, err := tree.Fit(X, []int32{0, 1, 0, 1}, 2, nil, tree.Params{MaxDepth: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(tr, tree.Gini, model.SchemaFlow, features.Names[:], []string{"BENIGN", attack}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), attack+".json")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFleetModels: a published model reaches every following member; one that
// does not load is refused and the running model stays; the next good one
// is taken; a pinned member ignores them all.
func TestFleetModels(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	slots := []*modelSlot{{}, {}, {}}
	a, b := join(t, srv.URL(), "a", "", slots[0]), join(t, srv.URL(), "b", "", slots[1])
	pinned := join(t, srv.URL(), "p", "", nil)
	waitSynced(t, a, b, pinned)
	op := operator(t, srv.URL())
	ctx := context.Background()

	mi, err := op.PublishModel(ctx, writeModel(t, "DDoS"))
	if err != nil || mi.Version != 1 || len(mi.SHA256) != 64 || mi.Publisher != "operator" {
		t.Fatalf("publish = %+v, %v", mi, err)
	}
	for i, x := range []*box{a, b} {
		waitFor(t, 2*time.Second, x.name+" runs v1", func() bool { return x.m.Status().Model.Version == 1 })
		if c := slots[i].classes(); len(c) != 2 || c[1] != "DDoS" {
			t.Fatalf("%s runs classes %v", x.name, c)
		}
		data, err := os.ReadFile(filepath.Join(x.dir, "models", "v000001.json"))
		if sum := sha256.Sum256(data); err != nil || hex.EncodeToString(sum[:]) != mi.SHA256 {
			t.Fatalf("%s's copy of v1: %v", x.name, err)
		}
	}

	// A broken object stored by another tool, with a hash that matches it: refused.
	junk := []byte(`{"format":"flowsieve-model","version":1,"features":[]}`)
	sum := sha256.Sum256(junk)
	if _, err := op.models.Put(ctx, jetstream.ObjectMeta{Name: modelObjectName(2), Metadata: map[string]string{"sha256": hex.EncodeToString(sum[:]), "file": "junk.json"}},
		bytes.NewReader(junk)); err != nil {
		t.Fatal(err)
	}
	for i, x := range []*box{a, b} {
		waitFor(t, 2*time.Second, x.name+" refuses v2", func() bool { return x.m.Status().Model.Refused == 2 })
		if st := x.m.Status().Model; st.Version != 1 || slots[i].classes()[1] != "DDoS" {
			t.Fatalf("%s after a bad model: %+v, classes %v; want v1 in force", x.name, st, slots[i].classes())
		}
	}

	// A valid model file the daemon cannot run (a data-set schema, not flow
	// features): its load fails, the running model stays.
	if mi, err = op.PublishModel(ctx, writeDatasetModel(t)); err != nil || mi.Version != 3 {
		t.Fatalf("publish v3 = %+v, %v", mi, err)
	}
	for i, x := range []*box{a, b} {
		waitFor(t, 2*time.Second, x.name+" refuses v3", func() bool { return x.m.Status().Model.Refused == 3 })
		if st := x.m.Status().Model; st.Version != 1 || slots[i].classes()[1] != "DDoS" {
			t.Fatalf("%s after an unloadable model: %+v; want v1 in force", x.name, st)
		}
	}

	// Publishing refuses a file that is not a model; the next good one is v4.
	if _, err := op.PublishModel(ctx, writeJunk(t)); !errors.Is(err, ErrModel) {
		t.Fatalf("publishing junk: %v, want ErrModel", err)
	}
	if mi, err = op.PublishModel(ctx, writeModel(t, "PortScan")); err != nil || mi.Version != 4 {
		t.Fatalf("publish v4 = %+v, %v", mi, err)
	}
	for i, x := range []*box{a, b} {
		waitFor(t, 2*time.Second, x.name+" runs v4", func() bool { return x.m.Status().Model.Version == 4 })
		if c := slots[i].classes(); c[1] != "PortScan" {
			t.Fatalf("%s runs classes %v", x.name, c)
		}
	}
	if st := pinned.m.Status().Model; st.Follow || st.Version != 0 {
		t.Fatalf("pinned member's model state %+v", st)
	}
	list, err := op.Models(ctx)
	if err != nil || len(list) != 4 || list[3].Version != 4 {
		t.Fatalf("models = %+v, %v", list, err)
	}

	// A member joining later takes the latest model.
	late := join(t, srv.URL(), "late", "", slots[2])
	waitFor(t, 2*time.Second, "late runs v4", func() bool { return late.m.Status().Model.Version == 4 })
}

func writeJunk(t testing.TB) string {
	path := filepath.Join(t.TempDir(), "junk.json")
	if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeDatasetModel writes a valid model over two NSL-KDD columns.
func writeDatasetModel(t testing.TB) string {
	t.Helper()
	X := [][]float32{{0, 1, 0, 1}, {5, 5, 6, 6}}
	tr, err := tree.Fit(X, []int32{0, 1, 0, 1}, 2, nil, tree.Params{MaxDepth: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(tr, tree.Gini, "nslkdd", []string{"duration", "src_bytes"}, []string{"normal", "attack"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nslkdd.json")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}
