package cli

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/appliance/progress"
	"github.com/flowsieve/flowsieve/engine/dataset"
	"github.com/flowsieve/flowsieve/engine/features"
	"github.com/flowsieve/flowsieve/engine/model"
	"github.com/flowsieve/flowsieve/engine/training"
	"github.com/flowsieve/flowsieve/engine/tree"
)

// Flag names of the train command (the data flags are shared with eval).
const (
	trainFlagData            = "data"
	trainFlagFormat          = "format"
	trainFlagLabelColumn     = "label-column"
	trainFlagSkipBadRows     = "skip-bad-rows"
	trainFlagMaxRows         = "max-rows"
	trainFlagOut             = "out"
	trainFlagMaxDepth        = "max-depth"
	trainFlagMinSamplesLeaf  = "min-samples-leaf"
	trainFlagMinSamplesSplit = "min-samples-split"
	trainFlagMaxLeafNodes    = "max-leaf-nodes"
	trainFlagMinImpurity     = "min-impurity-decrease"
	trainFlagCriterion       = "criterion"
	trainFlagClassWeight     = "class-weight"
	trainFlagTestSplit       = "test-split"
	trainFlagSeed            = "seed"
	trainFlagScale           = "scale"
	trainFlagLog1p           = "log1p"
	trainFlagFlowFeatures    = "flow-features"
	trainFlagFeatureSet      = "feature-set"
	trainFlagBalanceSources  = "balance-sources"
	trainFlagDecision        = "decision-packets"
	trainFlagDigits          = "digits"
)

// dataFlags select and read labelled data; train and eval share them.
func dataFlags() []cli.Flag {
	formats := make([]string, len(dataset.Formats))
	for i, f := range dataset.Formats {
		formats[i] = string(f)
	}
	return []cli.Flag{
		&cli.StringSliceFlag{Name: trainFlagData, Aliases: []string{"d"}, Required: true, EnvVars: []string{"FLOWSIEVE_DATA"},
			Usage: "A labelled flow table (CSV, optionally gzip-compressed). Repeat the flag for several files; they must have the same columns."},
		&cli.StringFlag{Name: trainFlagFormat, Value: string(dataset.Auto), EnvVars: []string{"FLOWSIEVE_DATA_FORMAT"},
			Usage: "Format of the data files: " + strings.Join(formats, ", ") + ". auto detects it from each file's first line."},
		&cli.StringFlag{Name: trainFlagLabelColumn, EnvVars: []string{"FLOWSIEVE_LABEL_COLUMN"},
			Usage: "Name of the label column of headered files. The default is the column named Label (any case)."},
		&cli.BoolFlag{Name: trainFlagSkipBadRows, EnvVars: []string{"FLOWSIEVE_SKIP_BAD_ROWS"},
			Usage: "Skip malformed rows (and report how many) instead of stopping at the first one."},
		&cli.IntFlag{Name: trainFlagMaxRows,
			Usage: "Read at most this many rows in total (0 reads everything)."},
	}
}

// loadData reads the files named by the data flags.
func loadData(c *cli.Context) (*dataset.Dataset, error) {
	start := time.Now()
	d, err := dataset.Load(c.StringSlice(trainFlagData), dataset.Options{
		Format:      dataset.Format(c.String(trainFlagFormat)),
		LabelColumn: c.String(trainFlagLabelColumn),
		SkipBadRows: c.Bool(trainFlagSkipBadRows),
		MaxRows:     c.Int(trainFlagMaxRows),
	})
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	fmt.Fprintf(c.App.ErrWriter, "read %d rows × %d features (%s) from %d file(s) in %v\n",
		d.X.Len, len(d.X.Names), d.Format, len(d.Files), time.Since(start).Round(time.Millisecond))
	if d.Skipped > 0 {
		fmt.Fprintf(c.App.ErrWriter, "skipped %d malformed rows; the first: %v\n", d.Skipped, d.FirstBad)
	}
	for i, l := range d.Labels {
		if l == "" {
			return nil, cli.Exit(fmt.Sprintf("row %d of the data has no label (give --%s, or label the flows)", i+1, trainFlagLabelColumn), 2)
		}
	}
	return d, nil
}

func trainCommand() *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "train a decision tree on labelled flow tables and save it as a model file",
		Description: Prose(`Reads labelled flows (flowsieve's own flow records, CICFlowMeter/CIC-IDS2017 CSVs, NSL-KDD,
			KDD Cup 99, UNSW-NB15, or any CSV of numbers with a label column), holds out a stratified test
			share, trains a CART decision tree on the rest (the algorithm of scikit-learn's
			DecisionTreeClassifier), prints the classification report on the held-out rows and saves the
			model with its training metadata. NaN is treated as missing and goes to the right child of every
			split; ±Inf are clamped to ±MaxFloat32. A model whose features are all flow features gets
			schema "flow" and can run in the appliance; use --flow-features to keep only those. The --data
			files may also be pcap/pcapng captures, labelled by --labels: the flow engine rebuilds their flows
			(with the table flags and --decision-packets as in flowsieve flows) and trains on them.`),
		Flags: append(append(dataFlags(), tableFlags()...),
			&cli.StringFlag{Name: trainFlagOut, Aliases: []string{"o"}, Required: true, EnvVars: []string{"FLOWSIEVE_MODEL_OUT"},
				Usage: "File to write the model to (JSON)."},
			&cli.IntFlag{Name: trainFlagMaxDepth, EnvVars: []string{"FLOWSIEVE_MAX_DEPTH"},
				Usage: "Maximum depth of the tree. 0 grows it until the leaves are pure or too small."},
			&cli.IntFlag{Name: trainFlagMinSamplesLeaf, Value: 1,
				Usage: "Minimum number of training rows in every leaf."},
			&cli.IntFlag{Name: trainFlagMinSamplesSplit, Value: 2,
				Usage: "Minimum number of training rows a node needs to be split."},
			&cli.IntFlag{Name: trainFlagMaxLeafNodes,
				Usage: "Maximum number of leaves; the tree then grows best split first. 0 means no limit."},
			&cli.Float64Flag{Name: trainFlagMinImpurity,
				Usage: "Split a node only if it decreases the weighted impurity by at least this much."},
			&cli.StringFlag{Name: trainFlagCriterion, Value: string(tree.Gini),
				Usage: "Split quality measure: gini or entropy."},
			&cli.StringFlag{Name: trainFlagClassWeight,
				Usage: "Class weights: balanced (inversely proportional to class frequency) or NAME=WEIGHT,... (others get 1). Empty weighs every row 1."},
			&cli.Float64Flag{Name: trainFlagTestSplit, Value: 0.2,
				Usage: "Share of each class held out for the test report (stratified). 0 trains on everything and prints no report."},
			&cli.Uint64Flag{Name: trainFlagSeed, Value: 1, EnvVars: []string{"FLOWSIEVE_SEED"},
				Usage: "Seed of the train/test split and of the feature order (ties). The same data and seed give the same model."},
			&cli.StringFlag{Name: trainFlagScale, Value: "none",
				Usage: "Input scaling fitted with the model: none or standard (subtract the mean, divide by the standard deviation). Trees do not need it; it is stored in the model and applied on prediction."},
			&cli.StringFlag{Name: trainFlagLog1p,
				Usage: "Apply a signed log1p to these features before scaling: comma-separated names, or all."},
			&cli.StringFlag{Name: trainFlagFeatureSet,
				Usage: "Train on one of engine/training's flow feature sets (all, no-port, no-timing, no-window, no-port-window, shape), chosen by go run ./bench/crossdata's leave-one-source-out table."},
			&cli.BoolFlag{Name: trainFlagBalanceSources,
				Usage: "Weigh every source the same within each class (rows need a Source column, as flowsieve dataset build writes), so one big source does not outweigh the others."},
			&cli.BoolFlag{Name: trainFlagFlowFeatures,
				Usage: "Use only the columns that are flowsieve flow features (engine/features), so the model can run in the appliance."},
			&cli.IntFlag{Name: trainFlagDecision, EnvVars: []string{"FLOWSIEVE_EARLY_PACKETS"},
				Usage: "Early decision point the data was extracted at (flowsieve flows --early N), recorded in the model; 0 means whole flows."},
			&cli.IntFlag{Name: trainFlagDigits, Value: 4,
				Usage: "Digits of the scores in the printed report."},
			&cli.StringFlag{Name: trainFlagLabels, EnvVars: []string{"FLOWSIEVE_LABELS"},
				Usage: "Labels file (engine/labels format) for training straight from captures: when the --data files are pcap/pcapng captures, their flows are rebuilt by the flow engine and labelled by this file's rules."},
		),
		Action: runTrain,
	}
}

func runTrain(c *cli.Context) error {
	crit := tree.Criterion(c.String(trainFlagCriterion))
	if crit != tree.Gini && crit != tree.Entropy {
		return cli.Exit(fmt.Sprintf("--%s %q: want gini or entropy", trainFlagCriterion, crit), 2)
	}
	d, err := trainData(c)
	if err != nil {
		return err
	}
	if c.Bool(trainFlagFlowFeatures) {
		var keep []string
		for _, n := range d.X.Names {
			if _, ok := features.Index(n); ok {
				keep = append(keep, n)
			}
		}
		if len(keep) == 0 {
			return cli.Exit("the data has no flowsieve flow feature columns", 2)
		}
		if d, err = d.Columns(keep); err != nil {
			return cli.Exit(err.Error(), 2)
		}
	}
	if name := c.String(trainFlagFeatureSet); name != "" {
		fs, err := training.FeatureSetByName(name)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--%s: %v", trainFlagFeatureSet, err), 2)
		}
		if d, err = d.Columns(fs.Names()); err != nil {
			return cli.Exit(fmt.Sprintf("--%s %s: %v", trainFlagFeatureSet, name, err), 2)
		}
	}
	schema := training.Schema(d)
	ids, classes := dataset.Classes(d.Labels)
	trainRows, testRows, err := dataset.StratifiedSplit(d.Labels, c.Float64(trainFlagTestSplit), c.Uint64(trainFlagSeed))
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	train := d.Subset(trainRows)
	y := make([]int32, len(trainRows))
	for k, i := range trainRows {
		y[k] = ids[i]
	}
	params := tree.Params{
		Criterion: crit, MaxDepth: c.Int(trainFlagMaxDepth), MinSamplesLeaf: c.Int(trainFlagMinSamplesLeaf),
		MinSamplesSplit: c.Int(trainFlagMinSamplesSplit), MaxLeafNodes: c.Int(trainFlagMaxLeafNodes),
		MinImpurityDecrease: c.Float64(trainFlagMinImpurity), Seed: c.Uint64(trainFlagSeed),
	}
	if _, err := training.ClassWeights(c.String(trainFlagClassWeight), y, classes); err != nil {
		return cli.Exit(fmt.Sprintf("--%s: %v", trainFlagClassWeight, err), 2)
	}
	scaler, err := fitScaler(c, train)
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	bar := progress.New(c.App.ErrWriter, int64(len(y)), "training")
	params.Progress = func(done, _ int) { bar.Set(done) }
	start := time.Now()
	m, err := training.Fit(train, training.Options{Tree: params, ClassWeight: c.String(trainFlagClassWeight),
		Scaler: scaler, Decision: c.Int(trainFlagDecision), BalanceSources: c.Bool(trainFlagBalanceSources)})
	bar.Finish()
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fit := time.Since(start)
	out := c.App.Writer
	fmt.Fprintf(out, "trained on %d rows, %d features, %d classes in %v: depth %d, %d leaves\n",
		len(trainRows), len(d.X.Names), len(classes), fit.Round(time.Millisecond), m.File.Tree.Depth, m.File.Tree.Leaves)
	tool, created, fitSeconds := reproducible(fit)
	m.Training = &model.Training{Files: d.Files, Format: string(d.Format), Rows: d.X.Len,
		TrainRows: len(trainRows), TestRows: len(testRows), Skipped: d.Skipped, Tool: tool,
		Created: created,
		Params: map[string]any{"criterion": string(crit), "max_depth": params.MaxDepth,
			"min_samples_leaf": params.MinSamplesLeaf, "min_samples_split": params.MinSamplesSplit,
			"max_leaf_nodes": params.MaxLeafNodes, "min_impurity_decrease": params.MinImpurityDecrease,
			"class_weight": c.String(trainFlagClassWeight), "test_split": c.Float64(trainFlagTestSplit),
			"seed": params.Seed, "scale": c.String(trainFlagScale), "log1p": c.String(trainFlagLog1p),
			"fit_seconds": fitSeconds, "feature_set": c.String(trainFlagFeatureSet),
			"balance_sources": c.Bool(trainFlagBalanceSources)}}
	m.DecisionPoint.Packets = c.Int(trainFlagDecision)
	if len(testRows) > 0 {
		rep, err := training.Evaluate(m, d.Subset(testRows))
		if err != nil {
			return cli.Exit(err.Error(), 1)
		}
		fmt.Fprintf(out, "\nheld-out report (%d rows, %.0f%% of each class):\n\n", len(testRows), 100*c.Float64(trainFlagTestSplit))
		rep.WriteText(out, c.Int(trainFlagDigits))
		fmt.Fprintln(out)
		rep.WriteConfusion(out)
		m.Training.HeldOut = &model.Metrics{Accuracy: rep.Accuracy, MacroF1: rep.Macro.F1, WeightedF1: rep.Weighted.F1}
	}
	m.File.Training = m.Training
	m.File.DecisionPoint = m.DecisionPoint
	if err := m.Save(c.String(trainFlagOut)); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(out, "\nmodel written to %s (schema %q)\n", c.String(trainFlagOut), schema)
	return nil
}

// reproducible returns the tool, creation time and fit time recorded in a model: with
// SOURCE_DATE_EPOCH set (reproducible builds: make model) the epoch's time, no
// version and no fit time, so the same data and flags give the same file byte for byte.
func reproducible(fit time.Duration) (tool, created string, fitSeconds float64) {
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		if sec, err := strconv.ParseInt(epoch, 10, 64); err == nil {
			return "flowsieve", time.Unix(sec, 0).UTC().Format(time.RFC3339), 0
		}
	}
	return "flowsieve " + Version, time.Now().UTC().Format(time.RFC3339), math.Round(fit.Seconds()*1000) / 1000
}

// fitScaler fits the scaler asked for by --scale and --log1p (nil: none).
func fitScaler(c *cli.Context, d *dataset.Dataset) (*tree.Scaler, error) {
	var log []bool
	if spec := c.String(trainFlagLog1p); spec != "" {
		log = make([]bool, len(d.X.Names))
		for _, name := range strings.Split(spec, ",") {
			name = strings.TrimSpace(name)
			found := false
			for j, n := range d.X.Names {
				if name == "all" || n == name {
					log[j], found = true, true
				}
			}
			if !found {
				return nil, fmt.Errorf("--%s: no feature %q in the data", trainFlagLog1p, name)
			}
		}
	}
	std := false
	switch c.String(trainFlagScale) {
	case "none", "":
	case "standard":
		std = true
	default:
		return nil, fmt.Errorf("--%s %q: want none or standard", trainFlagScale, c.String(trainFlagScale))
	}
	if log == nil && !std {
		return nil, nil
	}
	return tree.FitScaler(d.X.Cols, d.X.Len, log, std), nil
}
