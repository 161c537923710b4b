package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/manifest"
	"github.com/flowsieve/flowsieve/appliance/progress"
	"github.com/flowsieve/flowsieve/engine/dataset"
)

// Flag names of the dataset command.
const (
	datasetFlagOut       = "out"
	datasetFlagDataDir   = "data-dir"
	datasetFlagGenerated = "generated-dir"
)

// Files dataset build writes into --out.
const (
	datasetRowsFile    = "rows.csv"
	datasetSummaryFile = "sources.json"
)

func datasetCommand() *cli.Command {
	return &cli.Command{
		Name:  "dataset",
		Usage: "build labelled flow rows from a training-set manifest",
		Subcommands: []*cli.Command{{
			Name:      "build",
			Usage:     "turn a manifest's captures into labelled flow rows, each with its source",
			ArgsUsage: "MANIFEST",
			Description: "Reads the manifest (YAML: sources with files, role, label rule and reason; see " +
				"configs/datasets/open-world.yaml), rebuilds every source's flows with the flow engine (each " +
				"capture in its own flow table, rows at the manifest's decision point, big sources capped by " +
				"flow hash with the manifest's seed) and writes " + datasetRowsFile + " (a flows table with Label, " +
				"Source and Capture columns, which train and eval read) and " + datasetSummaryFile + " (per source: " +
				"role, files, rows per label, flows left out, reason) into the --out folder. The same manifest, " +
				"data and seed give the same files byte for byte.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: datasetFlagOut, Aliases: []string{"o"}, Required: true,
					Usage: "Folder to write the rows and the summary into (created if missing)."},
				&cli.StringFlag{Name: datasetFlagDataDir, Value: "../shared/data", EnvVars: []string{"FLOWSIEVE_DATA_DIR"},
					Usage: "Folder the manifest's real captures are found under."},
				&cli.StringFlag{Name: datasetFlagGenerated, EnvVars: []string{"FLOWSIEVE_GENERATED_DIR"},
					Usage: "Folder the generated captures (role generated) are found under; without it, generated sources are left out with a note."},
			},
			Action: runDatasetBuild,
		}},
	}
}

// datasetSummary is one source's entry in sources.json.
type datasetSummary struct {
	Name   string         `json:"name"`
	Role   string         `json:"role"`
	Files  int            `json:"files"`
	Rows   int            `json:"rows"`
	Labels map[string]int `json:"labels"`
	Reason string         `json:"reason"`
}

func runDatasetBuild(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("dataset build needs one MANIFEST argument", 2)
	}
	m, err := manifest.Load(c.Args().First())
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	gen := c.String(datasetFlagGenerated)
	if gen == "" {
		m.Sources = slices.DeleteFunc(m.Sources, func(s manifest.Source) bool {
			if s.Role == string(dataset.RoleGenerated) {
				fmt.Fprintf(c.App.ErrWriter, "source %s (generated) left out: no --%s\n", s.Name, datasetFlagGenerated)
				return true
			}
			return false
		})
	}
	srcs, err := m.Resolve(manifest.Dirs{Data: c.String(datasetFlagDataDir), Generated: gen})
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	bar := progress.New(c.App.ErrWriter, 0, "reading captures")
	start := time.Now()
	d, counts, err := dataset.FromCaptures(srcs, dataset.CaptureOptions{Decision: m.Decision, Seed: m.Seed,
		Progress: func(done, total int64) { bar.ChangeMax64(total); bar.Set64(done) },
		SourceDone: func(s dataset.Source, rows int) {
			bar.Clear()
			fmt.Fprintf(c.App.ErrWriter, "%-28s %-9s %4d files %7d rows\n", s.Name, s.Role, len(s.Paths), rows)
		}})
	bar.Finish()
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	for _, e := range counts.Damaged {
		fmt.Fprintf(c.App.ErrWriter, "note: %v (flows before the damage kept)\n", e)
	}
	out := c.String(datasetFlagOut)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	if err := writeDataset(filepath.Join(out, datasetRowsFile), d); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	sum := summarise(m, srcs, d)
	b, _ := json.MarshalIndent(sum, "", "  ")
	if err := os.WriteFile(filepath.Join(out, datasetSummaryFile), append(b, '\n'), 0o644); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "%d rows from %d sources (%d flows unlabelled, %d over the caps) in %v: %s\n",
		d.X.Len, len(srcs), counts.Unlabelled, counts.Capped, time.Since(start).Round(time.Millisecond), out)
	return nil
}

func writeDataset(path string, d *dataset.Dataset) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(dataset.WriteFlows(f, d), f.Close())
}

func summarise(m *manifest.Manifest, srcs []dataset.Source, d *dataset.Dataset) []datasetSummary {
	idx := map[string]int{}
	out := make([]datasetSummary, len(srcs))
	for i, s := range srcs {
		idx[s.Name] = i
		out[i] = datasetSummary{Name: s.Name, Role: string(s.Role), Files: len(s.Paths), Labels: map[string]int{}, Reason: m.Sources[i].Reason}
	}
	for i, s := range d.Meta.Source {
		e := &out[idx[s]]
		e.Rows++
		e.Labels[d.Labels[i]]++
	}
	return out
}
