package ceremony

import (
	"bytes"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/frontend"

	"fedledger.local/zk/circuit"
	"fedledger.local/zk/fixed"
)

// A whole ceremony with three contributors for a small circuit: the sealed keys prove and
// verify; a transcript with a corrupted contribution, or contributions out of order, is refused.
func TestThreePartyCeremonyYieldsWorkingKeysAndRefusesTampering(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	const name, power = "logreg-d2-b2", 13
	must := func(_ string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(Phase1New(power, p("p1-0")))
	for i, next := range []string{"p1-1", "p1-2", "p1-3"} {
		must(Phase1Contribute(p([]string{"p1-0", "p1-1", "p1-2"}[i]), p(next)))
	}
	must(Phase1Seal(power, []byte("beacon-1"), p("srs"), p("p1-1"), p("p1-2"), p("p1-3")))
	if _, err := Phase1Seal(power, []byte("beacon-1"), p("srs-x"), p("p1-2"), p("p1-1"), p("p1-3")); err == nil {
		t.Fatal("phase 1 contributions out of order were accepted")
	}
	must(Phase2New(name, p("srs"), p("p2-0")))
	for i, next := range []string{"p2-1", "p2-2", "p2-3"} {
		must(Phase2Contribute(p([]string{"p2-0", "p2-1", "p2-2"}[i]), p(next)))
	}
	corrupt, _ := os.ReadFile(p("p2-2"))
	corrupt[len(corrupt)/2] ^= 1
	os.WriteFile(p("p2-2-bad"), corrupt, 0o600)
	if _, _, err := Phase2Seal(name, p("srs"), []byte("beacon-2"), p("pk-x"), p("vk-x"), p("p2-1"), p("p2-2-bad"), p("p2-3")); err == nil {
		t.Fatal("a corrupted phase 2 contribution was accepted")
	}
	if _, _, err := Phase2Seal(name, p("srs"), []byte("beacon-2"), p("pk"), p("vk"), p("p2-1"), p("p2-2"), p("p2-3")); err != nil {
		t.Fatal(err)
	}

	ccs, err := circuit.Compile(name)
	if err != nil {
		t.Fatal(err)
	}
	rawPK, _ := os.ReadFile(p("pk"))
	pk := groth16.NewProvingKey(ecc.BN254)
	if _, err := pk.UnsafeReadFrom(bytes.NewReader(rawPK)); err != nil {
		t.Fatal(err)
	}
	rawVK, _ := os.ReadFile(p("vk"))
	vk := groth16.NewVerifyingKey(ecc.BN254)
	if _, err := vk.ReadFrom(bytes.NewReader(rawVK)); err != nil {
		t.Fatal(err)
	}
	in := circuit.StepInput{WBefore: []int64{100, -200, 50}, WAfter: []int64{100, -200, 50},
		X: [][]int64{{fixed.One, 0}}, Y: []int64{1}, Salt: "5", Step: 0, Round: "77", LR: fixed.One / 2,
		Clip: fixed.One, ExpectedBatch: 2, NoiseBound: new(big.Int).Lsh(big.NewInt(1), 40).String()}
	a, _, err := circuit.Assign(in, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := frontend.NewWitness(a, ecc.BN254.ScalarField())
	proof, err := groth16.Prove(ccs, pk, w)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := w.Public()
	if err := groth16.Verify(proof, vk, pw); err != nil {
		t.Fatalf("a proof under the ceremony's keys does not verify: %v", err)
	}
}
