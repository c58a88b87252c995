package circuit

import (
	"math"
	"math/big"
	"math/rand"
	"strings"
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/constraint/solver"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"
	"github.com/consensys/gnark/test"

	"fedledger.local/zk/fixed"
)

const sigma, clipNorm, lr = 1.0, 1.0, 0.5

func q(v float64) int64 { return int64(math.Round(v * float64(fixed.One))) }

// honestStep simulates what the agent does: a float DP-SGD step (clip, sum, Gaussian noise,
// divide by the expected batch size), recorded in fixed point.
func honestStep(rng *rand.Rand, d, n int, scaleX float64) StepInput {
	w := make([]float64, d+1)
	for j := range w {
		w[j] = rng.NormFloat64() * 0.3
	}
	in := StepInput{Salt: "123456789", Step: 7, Round: "987654321", LR: q(lr), Clip: q(clipNorm), ExpectedBatch: int64(n)}
	sum := make([]float64, d+1)
	for i := 0; i < n; i++ {
		row := make([]float64, d)
		xq := make([]int64, d)
		for j := range row {
			row[j] = math.Max(-7.9, math.Min(7.9, rng.NormFloat64()*scaleX))
			xq[j] = q(row[j])
			row[j] = float64(xq[j]) / float64(fixed.One)
		}
		label := int64(rng.Intn(2))
		logit := w[d]
		for j := range row {
			logit += w[j] * row[j]
		}
		e := 1/(1+math.Exp(-logit)) - float64(label)
		g := append(make([]float64, 0, d+1), row...)
		g = append(g, 1)
		norm := 0.0
		for j := range g {
			g[j] *= e
			norm += g[j] * g[j]
		}
		f := math.Min(1, clipNorm/math.Sqrt(norm))
		for j := range g {
			sum[j] += f * g[j]
		}
		in.X, in.Y = append(in.X, xq), append(in.Y, label)
	}
	for j := range w {
		in.WBefore = append(in.WBefore, q(w[j]))
		in.WAfter = append(in.WAfter, q(w[j]-lr*(sum[j]+rng.NormFloat64()*sigma*clipNorm)/float64(n)))
	}
	in.NoiseBound = noiseBound(d).String()
	return in
}

// noiseBound: ((sqrt(D+1) + 6) sigma C)^2 at scale 2^(2F), the bound the ledger computes.
func noiseBound(d int) *big.Int {
	v := math.Pow((math.Sqrt(float64(d+1))+6)*sigma*clipNorm*float64(fixed.One), 2)
	return big.NewInt(int64(math.Ceil(v)))
}

func assign(t *testing.T, in StepInput, d, b int) *LogRegStep {
	t.Helper()
	c, _, err := Assign(in, d, b)
	if err != nil {
		t.Fatalf("assign: %v", err)
	}
	return c
}

func solved(circuitD, circuitB int, a *LogRegStep, opts ...test.TestEngineOption) error {
	return test.IsSolved(NewLogRegStep(circuitD, circuitB), a, ecc.BN254.ScalarField(), opts...)
}

func TestHonestStepIsAccepted(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{6, 4, 1} { // full batch, padded batch, one example
		in := honestStep(rng, 8, n, 1.0)
		if err := solved(8, 6, assign(t, in, 8, 6)); err != nil {
			t.Fatalf("honest step with %d examples refused: %v", n, err)
		}
	}
}

func TestDemoSizeHonestStep(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	in := honestStep(rng, 30, 20, 1.0)
	if err := solved(30, 32, assign(t, in, 30, 32)); err != nil {
		t.Fatal(err)
	}
}

// Each case breaks one rule; the circuit must refuse it.
func TestEveryConstraintRefusesItsViolation(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	const d, b = 6, 5
	base := honestStep(rng, d, 4, 1.0)
	cases := map[string]func() *LogRegStep{
		"weights before do not match their commitment": func() *LogRegStep {
			a := assign(t, base, d, b)
			a.WBefore = new(big.Int).Add(a.WBefore.(*big.Int), big.NewInt(1))
			return a
		},
		"weights after do not match their commitment": func() *LogRegStep {
			a := assign(t, base, d, b)
			a.W1[0] = base.WAfter[0] + 1
			return a
		},
		"trained on another example than committed": func() *LogRegStep {
			a := assign(t, base, d, b)
			a.X[0][0] = base.X[0][0] + 1
			return a
		},
		"a committed example left out of the gradient": func() *LogRegStep {
			a := assign(t, base, d, b)
			a.M[0] = 0
			return a
		},
		"proof moved to another step": func() *LogRegStep {
			a := assign(t, base, d, b)
			a.Step = big.NewInt(base.Step + 1)
			return a
		},
		"proof moved to another round or hospital": func() *LogRegStep {
			a := assign(t, base, d, b)
			a.Round = big.NewInt(42)
			return a
		},
		"label is not 0 or 1": func() *LogRegStep {
			bad := base
			bad.Y = append([]int64{}, base.Y...)
			a := assign(t, bad, d, b)
			a.Y[0] = 2
			return a
		},
		"feature out of range (commitment recomputed to match)": func() *LogRegStep {
			a := assign(t, base, d, b)
			a.X[0][0] = int64(1) << fixed.XBits
			a.Batch = recomputeBatch(a, base, d, b)
			return a
		},
		"rounding residual beyond its bound": func() *LogRegStep {
			a := assign(t, base, d, b)
			a.Z[0] = a.Z[0].(int64) + 1
			return a
		},
		"fabricated update (noise norm above the bound)": func() *LogRegStep {
			fake := base
			fake.WAfter = append([]int64{}, base.WAfter...)
			for j := range fake.WAfter {
				fake.WAfter[j] -= fixed.One / 2 // half a unit per coordinate: far more than any noise
			}
			fake.NoiseBound = "1000000000000000"
			a := assign(t, fake, d, b)
			a.NoiseBound = noiseBound(d)
			return a
		},
		"learning rate zero": func() *LogRegStep {
			a := assign(t, base, d, b)
			a.LR = 0
			return a
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			if err := solved(d, b, build()); err == nil {
				t.Fatalf("%s: accepted", name)
			}
		})
	}
}

func recomputeBatch(a *LogRegStep, base StepInput, d, b int) *big.Int {
	x := make([][]int64, b)
	y, m := make([]int64, b), make([]int64, b)
	for i := 0; i < b; i++ {
		x[i] = make([]int64, d)
		for j := 0; j < d; j++ {
			x[i][j] = a.X[i][j].(int64)
		}
		y[i], m[i] = a.Y[i].(int64), a.M[i].(int64)
	}
	salt, _ := new(big.Int).SetString(base.Salt, 10)
	round, _ := new(big.Int).SetString(base.Round, 10)
	return fixed.BatchCommitment(round, big.NewInt(base.Step), salt, x, y, m)
}

func TestClippingIsEnforcedBothWays(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	const d, b = 6, 4
	in := honestStep(rng, d, 4, 4.0) // large features: gradients far above the clipping norm
	a := assign(t, in, d, b)
	noClip := func(_ *big.Int, _ []*big.Int, out []*big.Int) error { out[0].SetInt64(fixed.One); return nil }
	if err := solved(d, b, a, test.WithReplacementHint(solver.GetHintID(ClipFactorHint), noClip)); err == nil {
		t.Fatal("an unclipped gradient was accepted")
	}
	small := honestStep(rng, d, 4, 0.05) // tiny gradients: nothing to clip
	dropAll := func(_ *big.Int, _ []*big.Int, out []*big.Int) error { out[0].SetInt64(0); return nil }
	if err := solved(d, b, assign(t, small, d, b), test.WithReplacementHint(solver.GetHintID(ClipFactorHint), dropAll)); err == nil {
		t.Fatal("over-clipping (dropping examples' gradients) was accepted")
	}
}

func TestNativeAssignRefusesWhatTheCircuitWould(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	in := honestStep(rng, 4, 3, 1.0)
	fake := in
	fake.WAfter = append([]int64{}, in.WAfter...)
	fake.WAfter[0] += 4 * fixed.One // one coordinate moved by 4: far beyond the noise allowance
	if _, _, err := Assign(fake, 4, 3); err == nil || !strings.Contains(err.Error(), "above the bound") {
		t.Fatalf("fabricated step not refused natively: %v", err)
	}
	if _, _, err := Assign(in, 4, 2); err == nil {
		t.Fatal("a batch larger than the circuit was accepted")
	}
}

func TestGroth16ProveAndVerify(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	const d, b = 4, 3
	in := honestStep(rng, d, 3, 1.0)
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, NewLogRegStep(d, b))
	if err != nil {
		t.Fatal(err)
	}
	pk, vk, err := groth16.Setup(ccs)
	if err != nil {
		t.Fatal(err)
	}
	a, pub, err := Assign(in, d, b)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := frontend.NewWitness(a, ecc.BN254.ScalarField())
	proof, err := groth16.Prove(ccs, pk, full)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := full.Public()
	if err := groth16.Verify(proof, vk, pw); err != nil {
		t.Fatalf("honest proof rejected: %v", err)
	}
	other := NewLogRegStep(d, b)
	pub.Step = big.NewInt(in.Step + 1)
	other.SetPublic(pub)
	wrong, _ := frontend.NewWitness(other, ecc.BN254.ScalarField(), frontend.PublicOnly())
	if err := groth16.Verify(proof, vk, wrong); err == nil {
		t.Fatal("proof verified for another step")
	}
}
