package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowsieve/flowsieve/engine/model"
)

// MaxModelSize is the largest model file published, in bytes.
const MaxModelSize = 64 << 20

// ErrModel marks a published model that is not a valid model file or does
// not match its hash.
var ErrModel = errors.New("fleet: bad model")

// ModelInfo describes one published model.
type ModelInfo struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"` // object name, "v000003"
	SHA256    string    `json:"sha256"`
	Size      uint64    `json:"size"`
	File      string    `json:"file"` // base name of the published file
	Publisher string    `json:"publisher"`
	Published time.Time `json:"published"`
}

func modelObjectName(version int) string { return fmt.Sprintf("v%06d", version) }

func modelInfoOf(oi *jetstream.ObjectInfo) (ModelInfo, bool) {
	v, err := strconv.Atoi(strings.TrimPrefix(oi.Name, "v"))
	if oi.Deleted || err != nil || !strings.HasPrefix(oi.Name, "v") || v <= 0 {
		return ModelInfo{}, false
	}
	return ModelInfo{Version: v, Name: oi.Name, SHA256: oi.Metadata["sha256"], Size: oi.Size,
		File: oi.Metadata["file"], Publisher: oi.Metadata["publisher"], Published: oi.ModTime}, true
}

// Models returns the published models, oldest version first.
func (c *Client) Models(ctx context.Context) ([]ModelInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*c.o.Timeout)
	defer cancel()
	list, err := c.models.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: models: %w", err)
	}
	var out []ModelInfo
	for _, oi := range list {
		if mi, ok := modelInfoOf(oi); ok {
			out = append(out, mi)
		}
	}
	slices.SortFunc(out, func(a, b ModelInfo) int { return a.Version - b.Version })
	return out, nil
}

// PublishModel validates the model file at path and stores it as the next
// version; members following the fleet's model hot-swap it.
func (c *Client) PublishModel(ctx context.Context, path string) (ModelInfo, error) {
	data, err := readModel(path)
	if err != nil {
		return ModelInfo{}, err
	}
	have, err := c.Models(ctx)
	if err != nil {
		return ModelInfo{}, err
	}
	version := 1
	if len(have) > 0 {
		version = have[len(have)-1].Version + 1
	}
	sum := sha256.Sum256(data)
	meta := jetstream.ObjectMeta{
		Name:        modelObjectName(version),
		Description: "flowsieve model " + filepath.Base(path),
		Metadata:    map[string]string{"sha256": hex.EncodeToString(sum[:]), "file": filepath.Base(path), "publisher": c.o.Name},
	}
	ctx, cancel := context.WithTimeout(ctx, 4*c.o.Timeout)
	defer cancel()
	oi, err := c.models.Put(ctx, meta, bytes.NewReader(data))
	if err != nil {
		return ModelInfo{}, fmt.Errorf("fleet: publish %s: %w", path, err)
	}
	mi, _ := modelInfoOf(oi)
	return mi, nil
}

// readModel reads and validates a model file.
func readModel(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("fleet: model: %w", err)
	}
	if fi.Size() > MaxModelSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrModel, path, fi.Size(), MaxModelSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fleet: model: %w", err)
	}
	if _, err := model.Decode(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrModel, path, err)
	}
	return data, nil
}

// fetchModel downloads mi into dir (as vNNNNNN.json, written atomically),
// checks its hash and that it is a valid model, and returns the file's path.
func (c *Client) fetchModel(ctx context.Context, mi ModelInfo, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*c.o.Timeout)
	defer cancel()
	data, err := c.models.GetBytes(ctx, mi.Name) // checks the store's own SHA-256 digest
	if err != nil {
		return "", fmt.Errorf("fleet: fetch model %s: %w", mi.Name, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != mi.SHA256 {
		return "", fmt.Errorf("%w: %s: sha256 %s, published as %s", ErrModel, mi.Name, got, mi.SHA256)
	}
	if _, err := model.Decode(bytes.NewReader(data)); err != nil {
		return "", fmt.Errorf("%w: %s (%s): %w", ErrModel, mi.Name, mi.File, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("fleet: model dir: %w", err)
	}
	path := filepath.Join(dir, mi.Name+".json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return "", fmt.Errorf("fleet: model: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", errors.Join(fmt.Errorf("fleet: model: %w", err), os.Remove(tmp))
	}
	return path, nil
}
