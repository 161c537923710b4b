// Package configs holds the files flowsieve ships: the default configuration and
// policy (YAML, read from disk) and the default model, embedded in the binary so that
// commands work without a --model. The model is rebuilt byte for byte by `make model`
// from configs/datasets/open-world.yaml with fixed seeds; docs/model-card.md describes it.
package configs

import (
	"bytes"
	_ "embed"

	"github.com/flowsieve/flowsieve/engine/model"
)

// DefaultModelName is what --model takes to name the embedded default model.
const DefaultModelName = "default"

//go:embed model.json
var defaultModel []byte

// DefaultModel returns the embedded default model, decoded and validated.
func DefaultModel() (*model.Model, error) {
	return model.Decode(bytes.NewReader(defaultModel))
}

// LoadModel loads the model file at path, or the default model when path is "" or
// "default".
func LoadModel(path string) (*model.Model, error) {
	if path == "" || path == DefaultModelName {
		return DefaultModel()
	}
	return model.Load(path)
}
