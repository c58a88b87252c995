package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/consensys/gnark/constraint"
)

func serialized(t *testing.T, ccs constraint.ConstraintSystem) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := ccs.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCompiledCircuitsAreCachedPerBuildAndReadBackUnchanged(t *testing.T) {
	t.Setenv("FEDLEDGER_ZK_CACHE", t.TempDir())
	path := ccsCachePath("bind-w3")
	first, err := compiled("bind-w3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no cache file after compiling: %v", err)
	}
	again, err := compiled("bind-w3")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(serialized(t, first), serialized(t, again)) {
		t.Fatal("the cached circuit differs from the compiled one")
	}
	if err := os.WriteFile(path, []byte("not a circuit"), 0o600); err != nil {
		t.Fatal(err)
	}
	if broken, err := compiled("bind-w3"); err != nil || broken.GetNbConstraints() != first.GetNbConstraints() {
		t.Fatalf("a corrupt cache file must mean compiling again: %v", err)
	}
	if ccsCachePath("../x") != "" {
		t.Fatal("a name that is not a circuit name must not name a cache file")
	}
}
