package cli

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/flowsieve/flowsieve/engine/model"
)

// Flag names of the eval command (the data flags are shared with train).
const (
	evalFlagModel = "model"
	evalFlagJSON  = "json"
	evalFlagPlot  = "plot"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "score a model file on labelled flow tables",
		Description: "Predicts every row of the data with the model and prints the classification report in " +
			"scikit-learn's layout (precision, recall, f1-score and support per class, accuracy, macro and " +
			"weighted averages) and the confusion matrix. With --json it prints {\"accuracy\", \"macro_f1\", " +
			"\"weighted_f1\", \"classes\": {NAME: {\"precision\", \"recall\", \"f1\", \"support\"}}, " +
			"\"confusion\": {\"labels\": [...], \"matrix\": [[...]]}} instead. The model's features are found in " +
			"the data by name.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: evalFlagModel, Aliases: []string{"m"}, Required: true, EnvVars: []string{"FLOWSIEVE_MODEL"},
				Usage: "The model file to evaluate."},
			&cli.BoolFlag{Name: evalFlagJSON,
				Usage: "Print the report as JSON."},
			&cli.StringFlag{Name: evalFlagPlot,
				Usage: "Also draw the confusion matrix into this image file (.png, .svg or .pdf)."},
			&cli.IntFlag{Name: trainFlagDigits, Value: 4,
				Usage: "Digits of the scores in the printed report."},
		}, dataFlags()...),
		Action: runEval,
	}
}

func runEval(c *cli.Context) error {
	m, err := model.Load(c.String(evalFlagModel))
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	d, err := loadData(c)
	if err != nil {
		return err
	}
	rep, err := evaluate(m, d)
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	if path := c.String(evalFlagPlot); path != "" {
		if err := rep.PlotConfusion(path, fmt.Sprintf("%s on %d rows (accuracy %.4f)", c.String(evalFlagModel), d.X.Len, rep.Accuracy)); err != nil {
			return cli.Exit(fmt.Sprintf("plot: %v", err), 1)
		}
	}
	out := c.App.Writer
	if c.Bool(evalFlagJSON) {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.WriteText(out, c.Int(trainFlagDigits))
	fmt.Fprintln(out)
	return rep.WriteConfusion(out)
}
