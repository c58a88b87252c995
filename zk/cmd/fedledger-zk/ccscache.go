package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/constraint"

	"fedledger.local/zk/circuit"
)

// circuitName is what a cache file may be named after (circuit names are all of this form).
var circuitName = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// compiled is the named circuit's constraint system. A prover compiles it on every call, which
// for the demo's step circuit takes ~200 ms of the ~700 ms a proof costs; reading it back from
// a cache of this build's compiled circuits takes ~30 ms. The cache is best effort: a missing,
// unreadable or unwritable one means compiling, never failing.
func compiled(name string) (constraint.ConstraintSystem, error) {
	path := ccsCachePath(name)
	if path != "" {
		if raw, err := os.ReadFile(path); err == nil {
			ccs := groth16.NewCS(ecc.BN254)
			if _, err := ccs.ReadFrom(bytes.NewReader(raw)); err == nil {
				return ccs, nil
			}
		}
	}
	ccs, err := circuit.Compile(name)
	if err != nil {
		return nil, err
	}
	if path != "" {
		storeCCS(path, ccs)
	}
	return ccs, nil
}

// ccsCachePath is where this build keeps the compiled circuit (per executable: a new build
// never reads another build's circuits), or "" when there is no cache directory.
func ccsCachePath(name string) string {
	if !circuitName.MatchString(name) {
		return ""
	}
	base := os.Getenv("FEDLEDGER_ZK_CACHE")
	if base == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		base = filepath.Join(dir, "fedledger-zk")
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	st, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	build := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d", exe, st.Size(), st.ModTime().UnixNano())))
	return filepath.Join(base, hex.EncodeToString(build[:8]), name+".ccs")
}

// storeCCS writes the compiled circuit atomically (agents proving at once may race to write it).
func storeCCS(path string, ccs constraint.ConstraintSystem) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ccs-*")
	if err != nil {
		return
	}
	_, werr := ccs.WriteTo(tmp)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
	}
}
