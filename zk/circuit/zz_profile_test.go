package circuit

import (
	"math/rand"
	"os"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"
	"github.com/consensys/gnark/logger"
	"github.com/rs/zerolog"
)

func TestZZProfile(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	const d, b = 30, 32
	in := honestStep(rng, d, 16, 1.0)
	t0 := time.Now()
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, NewLogRegStep(d, b))
	if err != nil { t.Fatal(err) }
	t.Logf("compile %v, constraints %d", time.Since(t0), ccs.GetNbConstraints())
	pk, _, err := groth16.Setup(ccs)
	if err != nil { t.Fatal(err) }
	logger.Set(zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger().Level(zerolog.DebugLevel))
	for k := 0; k < 3; k++ {
		a, _, _ := Assign(in, d, b)
		full, _ := frontend.NewWitness(a, ecc.BN254.ScalarField())
		t1 := time.Now()
		if _, err := groth16.Prove(ccs, pk, full); err != nil { t.Fatal(err) }
		t.Logf("prove %v", time.Since(t1))
	}
}
