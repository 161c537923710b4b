package cli

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/progress"
	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/labels"
	"github.com/flowsieve/flowsieve/engine/source"
)

// trainFlagLabels names the labels file for training from captures.
const trainFlagLabels = "labels"

// captureData rebuilds labelled flows from captures: the flow engine computes each
// flow's features (at the early decision point when --decision-packets is set, as the
// appliance would classify it) and the labels file names its class. Flows no rule
// matches are left out and counted.
func captureData(c *cli.Context, paths []string) (*dataset.Dataset, error) {
	lpath := c.String(trainFlagLabels)
	if lpath == "" {
		return nil, cli.Exit(fmt.Sprintf("training from captures needs --%s FILE (engine/labels format) to label the flows", trainFlagLabels), 2)
	}
	set, err := labels.Load(lpath)
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	cfg, err := tableConfig(c)
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	bar := progress.New(c.App.ErrWriter, 0, "reading captures")
	d, counts, err := dataset.FromCaptures([]dataset.Source{{Name: lpath, Paths: paths, Label: set.Label}},
		dataset.CaptureOptions{Decision: c.Int(trainFlagDecision), Seed: cfg.Seed, Table: cfg,
			Progress: func(done, total int64) { bar.ChangeMax64(total); bar.Set64(done) }})
	bar.Finish()
	if errors.Is(err, dataset.ErrNoFlows) {
		return nil, cli.Exit(fmt.Sprintf("no flow of the captures matches a rule of %s", lpath), 2)
	}
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	if len(counts.Damaged) > 0 {
		return nil, cli.Exit(fmt.Sprintf("reading captures: %v", errors.Join(counts.Damaged...)), 1)
	}
	fmt.Fprintf(c.App.ErrWriter, "rebuilt %d labelled flows from %d capture(s) (%d flows matched no label rule and were left out)\n",
		d.X.Len, len(paths), counts.Unlabelled)
	return d, nil
}

// trainData loads the --data files: flow tables, or captures labelled by --labels.
func trainData(c *cli.Context) (*dataset.Dataset, error) {
	paths := c.StringSlice(trainFlagData)
	captures := 0
	for _, p := range paths {
		ok, err := source.Sniff(p)
		if err != nil {
			return nil, cli.Exit(err.Error(), 2)
		}
		if ok {
			captures++
		}
	}
	switch captures {
	case 0:
		if c.String(trainFlagLabels) != "" {
			return nil, cli.Exit(fmt.Sprintf("--%s labels captures; the --%s files are flow tables (they carry their own labels)", trainFlagLabels, trainFlagData), 2)
		}
		return loadData(c)
	case len(paths):
		return captureData(c, paths)
	}
	return nil, cli.Exit(fmt.Sprintf("--%s mixes captures and flow tables; give one kind", trainFlagData), 2)
}
