package cli

import (
	"fmt"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/engine/model"
)

// Flag names of the model command.
const (
	modelFlagDot      = "dot"
	modelFlagDepth    = "depth"
	modelFlagTopSplit = "top"
)

// modelCommand groups the model subcommands (the appliance adds "load").
func modelCommand() *cli.Command {
	return &cli.Command{
		Name:  "model",
		Usage: "inspect model files, and hot-swap one into the running daemon",
		Subcommands: []*cli.Command{
			modelShowCommand(),
			modelLoadCommand(),
			modelPublishCommand(),
		},
	}
}

func modelShowCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "describe a model file: features used, depth, leaves, top splits and the tree",
		ArgsUsage: "MODEL.json",
		Description: Prose(`Validates the model file and prints its schema, classes, training metadata, the features
			the tree uses ranked by importance (total weighted impurity decrease, as scikit-learn computes
			it), the splits nearest the root, and the tree as indented text. With --dot it prints only the
			tree in Graphviz dot format (render it with: dot -Tpng -o tree.png).`),
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: modelFlagDot,
				Usage: "Print the tree in Graphviz dot format instead of the description."},
			&cli.IntFlag{Name: modelFlagDepth, Value: 4,
				Usage: "Print the tree down to this depth (0 prints all of it)."},
			&cli.IntFlag{Name: modelFlagTopSplit, Value: 7,
				Usage: "Number of splits nearest the root to list."},
		},
		Action: runModelShow,
	}
}

func runModelShow(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("model show: give one model file", 2)
	}
	m, err := model.Load(c.Args().First())
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	out := c.App.Writer
	t := m.Tree
	if c.Bool(modelFlagDot) {
		return t.WriteDot(out, m.Features, m.Classes, c.Int(modelFlagDepth))
	}
	fmt.Fprintf(out, "model %s: %s version %d, schema %q\n", c.Args().First(), m.Format, m.Version, m.Schema)
	fmt.Fprintf(out, "tree: %s, depth %d, %d leaves, %d nodes\n", m.File.Tree.Criterion, t.Depth(), t.Leaves(), len(t.Nodes))
	fmt.Fprintf(out, "classes (%d): %v\n", len(m.Classes), m.Classes)
	if m.DecisionPoint.Packets > 0 {
		fmt.Fprintf(out, "decision point: after %d packets\n", m.DecisionPoint.Packets)
	} else {
		fmt.Fprintf(out, "decision point: at the end of the flow\n")
	}
	if m.Scaler != nil {
		fmt.Fprintf(out, "scaler: log1p=%v standardise=%v (thresholds below are in the scaled space)\n", m.Scaler.Log1p != nil, m.Scaler.Mean != nil)
	}
	if m.Cluster != nil {
		fmt.Fprintf(out, "cluster section: present\n")
	}
	if tr := m.File.Training; tr != nil {
		fmt.Fprintf(out, "training: %d rows (%d train, %d test) from %v", tr.Rows, tr.TrainRows, tr.TestRows, tr.Files)
		if tr.Tool != "" {
			fmt.Fprintf(out, " by %s", tr.Tool)
		}
		fmt.Fprintln(out)
		if tr.HeldOut != nil {
			fmt.Fprintf(out, "held-out: accuracy %.4f, macro F1 %.4f, weighted F1 %.4f\n", tr.HeldOut.Accuracy, tr.HeldOut.MacroF1, tr.HeldOut.WeightedF1)
		}
	}
	imp := t.Importances()
	order := make([]int, 0, len(imp))
	for f, v := range imp {
		if v > 0 {
			order = append(order, f)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return imp[order[a]] > imp[order[b]] })
	fmt.Fprintf(out, "\nfeatures used: %d of %d (importance)\n", len(order), len(m.Features))
	for _, f := range order {
		fmt.Fprintf(out, "  %8.4f  %s\n", imp[f], m.Features[f])
	}
	fmt.Fprintf(out, "\ntop splits (breadth first from the root):\n")
	queue := []int32{0}
	for shown := 0; len(queue) > 0 && shown < c.Int(modelFlagTopSplit); {
		i := queue[0]
		queue = queue[1:]
		n := &t.Nodes[i]
		if n.Leaf() {
			continue
		}
		fmt.Fprintf(out, "  node %-5d %s <= %.6g  (%d samples, impurity %.4f)\n", i, m.Features[n.Feature], n.Threshold, n.Samples, n.Impurity)
		queue = append(queue, n.Left, n.Right)
		shown++
	}
	fmt.Fprintf(out, "\ntree (to depth %d):\n", c.Int(modelFlagDepth))
	return t.WriteText(out, m.Features, m.Classes, c.Int(modelFlagDepth))
}
