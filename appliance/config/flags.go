package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/urfave/cli/v2"
)

// Flag names shared by every command that loads the configuration.
const (
	FlagConfig = "config"
	FlagSet    = "set"
	// EnvConfig names the config file when --config is not given.
	EnvConfig = "FLOWSIEVE_CONFIG"
)

// setList collects repeated --set key=value flags without splitting on commas (so
// "--set cpus=0,1" keeps its list).
type setList struct{ kv []string }

func (s *setList) Set(v string) error {
	k, _, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	s.kv = append(s.kv, v)
	return nil
}

func (s *setList) String() string { return strings.Join(s.kv, " ") }

// Flags returns the flags of commands that load the configuration: --config, --set and
// one flag per key that has a flag tag. Add them to a command and call FromCLI.
func Flags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: FlagConfig, EnvVars: []string{EnvConfig}, Usage: "Read the configuration from this YAML file (see configs/flowsieve.yaml); without it the defaults apply."},
		&cli.GenericFlag{Name: FlagSet, Value: &setList{}, Usage: "Set any configuration key, e.g. --set flow.idle_timeout=1m; repeat for more keys. Overrides the file and the environment."},
	}
	for _, k := range Keys() {
		if k.Flag == "" {
			continue
		}
		usage := fmt.Sprintf("%s (key %s, env %s)", k.Help, k.Path, k.Env)
		if k.typ.Kind() == reflect.Bool {
			flags = append(flags, &cli.BoolFlag{Name: k.Flag, Usage: usage, DefaultText: k.Default})
			continue
		}
		flags = append(flags, &cli.StringFlag{Name: k.Flag, Usage: usage, DefaultText: k.Default})
	}
	return flags
}

// FromCLI loads the configuration for a command that has Flags(): the file named by
// --config (or FLOWSIEVE_CONFIG), the process environment, then --set and key flags.
func FromCLI(c *cli.Context) (*Config, error) {
	src := Sources{File: c.String(FlagConfig), Env: os.Environ(), Flags: map[string]string{}, FlagNames: map[string]string{}}
	if s, ok := c.Generic(FlagSet).(*setList); ok {
		for _, kv := range s.kv {
			k, v, _ := strings.Cut(kv, "=")
			src.Flags[k] = v
			delete(src.FlagNames, k)
		}
	}
	for _, k := range Keys() {
		if k.Flag == "" || !c.IsSet(k.Flag) {
			continue
		}
		if k.typ.Kind() == reflect.Bool {
			src.Flags[k.Path] = fmt.Sprint(c.Bool(k.Flag))
		} else {
			src.Flags[k.Path] = c.String(k.Flag)
		}
		src.FlagNames[k.Path] = k.Flag
	}
	return Load(src)
}
