// Package atlascli runs the Atlas CLI that scripts/build-atlas.sh builds into
// bin/atlas, from the repository root (where atlas.hcl and the file://
// migration directories it names are found). The tests of this package check
// that the CLI and the service's own migrator (tenancy/dbmigrate) read each
// other's work.
package atlascli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModulePath is the module whose root holds atlas.hcl and bin/atlas.
const ModulePath = "github.com/tenantkit/tenantkit"

// ErrNotBuilt is returned by Binary when bin/atlas does not exist.
var ErrNotBuilt = errors.New("atlas CLI not built (run scripts/build-atlas.sh)")

// Root returns the root directory of the module, found by walking up from
// the working directory to the go.mod that declares ModulePath (the tools
// module's go.mod, tools/atlas/go.mod, declares another path and is passed).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isModuleRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("atlascli: no go.mod of %s above the working directory", ModulePath)
		}
		dir = parent
	}
}

func isModuleRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

// Binary returns the path of bin/atlas below the module root, or an error
// wrapping ErrNotBuilt when it is missing.
func Binary() (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin", "atlas")
	fi, err := os.Stat(bin)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%w: %s is missing", ErrNotBuilt, bin)
	case err != nil:
		return "", err
	case fi.IsDir() || fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("atlascli: %s is not an executable file", bin)
	}
	return bin, nil
}

// Run runs bin/atlas with args in the module root and returns its combined
// output. A non-zero exit is an error that carries the output.
func Run(ctx context.Context, args ...string) (string, error) {
	return RunEnv(ctx, nil, args...)
}

// RunEnv is Run with extra environment variables ("KEY=value"), which take
// precedence over the inherited environment.
func RunEnv(ctx context.Context, env []string, args ...string) (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	root := filepath.Dir(filepath.Dir(bin))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = root
	// The CLI checks for updates over the internet after every command
	// (waiting up to 500ms) unless told not to.
	cmd.Env = append(append(os.Environ(), "ATLAS_NO_UPDATE_NOTIFIER=1"), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("atlas %s: %w\n%s", subcommand(args), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// subcommand names the command for error messages without its flags, whose
// values (database URLs) may carry passwords.
func subcommand(args []string) string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}
