package cli

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/configs"
	"github.com/flowsieve/flowsieve/engine/training"
)

// Flag names of the eval command (the data flags are shared with train).
const (
	evalFlagModel = "model"
	evalFlagPlot  = "plot"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "score a model on labelled flow tables, or on captures with a labels file",
		Description: Prose(`Predicts every row of the data with the model and prints the classification report in
			scikit-learn's layout (precision, recall, f1-score and support per class, accuracy, macro and
			weighted averages) and the confusion matrix. With --json it prints {"accuracy", "macro_f1",
			"weighted_f1", "classes": {NAME: {"precision", "recall", "f1", "support"}},
			"confusion": {"labels": [...], "matrix": [[...]]}} instead. The model's features are found in
			the data by name.`),
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: evalFlagModel, Aliases: []string{"m"}, Value: configs.DefaultModelName, EnvVars: []string{"FLOWSIEVE_MODEL"},
				Usage: "The model file to evaluate; default names the model built into flowsieve (configs/model.json)."},
			&cli.BoolFlag{Name: flagJSON,
				Usage: "Print the report as JSON."},
			&cli.StringFlag{Name: evalFlagPlot,
				Usage: "Also draw the confusion matrix into this image file (.png, .svg or .pdf)."},
			&cli.IntFlag{Name: trainFlagDigits, Value: 4,
				Usage: "Digits of the scores in the printed report."},
			&cli.StringFlag{Name: trainFlagLabels, EnvVars: []string{"FLOWSIEVE_LABELS"},
				Usage: "Labels file (engine/labels format) for evaluating on captures: when the --data files are pcap/pcapng captures, their flows are rebuilt by the flow engine (at the model's decision point unless --decision-packets is given) and labelled by this file's rules."},
			&cli.IntFlag{Name: trainFlagDecision, Value: -1, EnvVars: []string{"FLOWSIEVE_EARLY_PACKETS"},
				Usage: "Early decision point (packets) at which flows of captures are taken; -1 uses the model's."},
		}, append(dataFlags(), tableFlags()...)...),
		Action: runEval,
	}
}

func runEval(c *cli.Context) error {
	m, err := configs.LoadModel(c.String(evalFlagModel))
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	if c.Int(trainFlagDecision) < 0 {
		c.Set(trainFlagDecision, strconv.Itoa(m.DecisionPoint.Packets))
	}
	d, err := trainData(c)
	if err != nil {
		return err
	}
	rep, err := training.Evaluate(m, d)
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	if path := c.String(evalFlagPlot); path != "" {
		if err := rep.PlotConfusion(path, fmt.Sprintf("%s on %d rows (accuracy %.4f)", c.String(evalFlagModel), d.X.Len, rep.Accuracy)); err != nil {
			return cli.Exit(fmt.Sprintf("plot: %v", err), 1)
		}
	}
	out := c.App.Writer
	if c.Bool(flagJSON) {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.WriteText(out, c.Int(trainFlagDigits))
	fmt.Fprintln(out)
	return rep.WriteConfusion(out)
}
