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

// honestMLPStep is what the agent does for the D-H-1 perceptron: a float DP-SGD step on the
// fixed-point grid (clip each example's gradient, sum, add Gaussian noise, divide by the
// expected batch size), recorded in fixed point.
func honestMLPStep(rng *rand.Rand, d, h, n int, scaleX float64) StepInput {
	nw := MLPWeights(d, h)
	ob1, ow2, ob2 := mlpLayout(d, h)
	w := make([]float64, nw)
	for j := range w {
		w[j] = float64(q(rng.NormFloat64()*0.4)) / float64(fixed.One)
	}
	in := StepInput{Salt: "24680", Step: 3, Round: "13579", LR: q(lr), Clip: q(clipNorm), ExpectedBatch: int64(n)}
	sum := make([]float64, nw)
	for i := 0; i < n; i++ {
		xq := make([]int64, d)
		x := make([]float64, d)
		for j := range x {
			xq[j] = q(math.Max(-7.9, math.Min(7.9, rng.NormFloat64()*scaleX)))
			x[j] = float64(xq[j]) / float64(fixed.One)
		}
		label := int64(rng.Intn(2))
		logit := w[ob2]
		hid, act := make([]float64, h), make([]bool, h)
		for k := 0; k < h; k++ {
			a := w[ob1+k]
			for j := 0; j < d; j++ {
				a += w[k*d+j] * x[j]
			}
			act[k] = a > 0
			hid[k] = math.Max(0, a)
			logit += w[ow2+k] * hid[k]
		}
		e := 1/(1+math.Exp(-logit)) - float64(label)
		g := make([]float64, nw)
		g[ob2] = e
		for k := 0; k < h; k++ {
			g[ow2+k] = e * hid[k]
			if act[k] {
				g[ob1+k] = e * w[ow2+k]
				for j := 0; j < d; j++ {
					g[k*d+j] = e * w[ow2+k] * x[j]
				}
			}
		}
		norm := 0.0
		for _, v := range g {
			norm += v * v
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
	in.NoiseBound = noiseBound(nw - 1).String()
	return in
}

// inactiveUnits counts (example, unit) pairs whose pre-activation is not positive.
func inactiveUnits(in StepInput, d, h int) int {
	ob1, _, _ := mlpLayout(d, h)
	n := 0
	for _, x := range in.X {
		for k := 0; k < h; k++ {
			a := in.WBefore[ob1+k] * fixed.One
			for j := 0; j < d; j++ {
				a += in.WBefore[k*d+j] * x[j]
			}
			if a <= 0 {
				n++
			}
		}
	}
	return n
}

func assignMLP(t *testing.T, in StepInput, d, h, b int) *MLPStep {
	t.Helper()
	c, _, err := AssignMLP(in, d, h, b)
	if err != nil {
		t.Fatalf("assign: %v", err)
	}
	return c
}

func solvedMLP(d, h, b int, a *MLPStep, opts ...test.TestEngineOption) error {
	return test.IsSolved(NewMLPStep(d, h, b), a, ecc.BN254.ScalarField(), opts...)
}

func TestMLPHonestStepIsAccepted(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, n := range []int{5, 3, 1} { // full batch, padded batch, one example
		in := honestMLPStep(rng, 5, 4, n, 1.0)
		if err := solvedMLP(5, 4, 5, assignMLP(t, in, 5, 4, 5)); err != nil {
			t.Fatalf("honest step with %d examples refused: %v", n, err)
		}
	}
}

func TestMLPDemoSizeHonestStep(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	in := honestMLPStep(rng, 30, 16, 20, 1.0)
	if err := solvedMLP(30, 16, 32, assignMLP(t, in, 30, 16, 32)); err != nil {
		t.Fatal(err)
	}
}

// Each case breaks one rule the MLP circuit adds to (or shares with) the logistic one.
func TestMLPEveryConstraintRefusesItsViolation(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	const d, h, b = 4, 3, 4
	base := honestMLPStep(rng, d, h, 4, 1.0)
	if inactiveUnits(base, d, h) == 0 {
		t.Fatal("the base step has no inactive ReLU unit: the ReLU case would test nothing")
	}
	replace := func(hint solver.Hint, fn solver.Hint) test.TestEngineOption {
		return test.WithReplacementHint(solver.GetHintID(hint), fn)
	}
	// a ReLU that lets every unit through (negative pre-activations too)
	allActive := func(field *big.Int, in, out []*big.Int) error {
		if in[0].Sign() == 0 { // isLess(0, a): claim a > 0
			out[0].SetUint64(1)
			return nil
		}
		return IsLessHint(field, in, out)
	}
	// a hidden value one unit too large (remainder pushed negative)
	offByOne := func(field *big.Int, in, out []*big.Int) error {
		if err := FloorDivHint(field, in, out); err != nil {
			return err
		}
		if in[1].Cmp(pow2(fixed.F)) == 0 {
			out[0].Add(out[0], big.NewInt(1))
			out[1].Sub(out[1], pow2(fixed.F))
			out[1].Mod(out[1], field)
		}
		return nil
	}
	noClip := func(_ *big.Int, _ []*big.Int, out []*big.Int) error { out[0].SetInt64(fixed.One); return nil }
	cases := map[string]struct {
		build func() *MLPStep
		opts  []test.TestEngineOption
	}{
		"weights before do not match their commitment": {build: func() *MLPStep {
			a := assignMLP(t, base, d, h, b)
			a.W0[0] = base.WBefore[0] + 1
			return a
		}},
		"trained on another example than committed": {build: func() *MLPStep {
			a := assignMLP(t, base, d, h, b)
			a.X[1][2] = base.X[1][2] + 1
			return a
		}},
		"ReLU passes a negative pre-activation": {build: func() *MLPStep { return assignMLP(t, base, d, h, b) },
			opts: []test.TestEngineOption{replace(IsLessHint, allActive)}},
		"hidden value not the floor of the pre-activation": {build: func() *MLPStep { return assignMLP(t, base, d, h, b) },
			opts: []test.TestEngineOption{replace(FloorDivHint, offByOne)}},
		"unclipped gradient": {build: func() *MLPStep {
			return assignMLP(t, honestMLPStep(rand.New(rand.NewSource(14)), d, h, 4, 4.0), d, h, b)
		}, opts: []test.TestEngineOption{replace(ClipFactorHint, noClip)}},
		"rounding residual beyond its bound": {build: func() *MLPStep {
			a := assignMLP(t, base, d, h, b)
			a.Z[len(a.Z)-1] = a.Z[len(a.Z)-1].(int64) + 1
			return a
		}},
		"fabricated update (noise norm above the bound)": {build: func() *MLPStep {
			fake := base
			fake.WAfter = append([]int64{}, base.WAfter...)
			for j := range fake.WAfter {
				fake.WAfter[j] -= fixed.One / 2
			}
			fake.NoiseBound = "1000000000000000"
			a := assignMLP(t, fake, d, h, b)
			a.NoiseBound = noiseBound(MLPWeights(d, h) - 1)
			return a
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if err := solvedMLP(d, h, b, c.build(), c.opts...); err == nil {
				t.Fatalf("%s: accepted", name)
			}
		})
	}
}

func TestMLPNativeAssignRefusesWhatTheCircuitWould(t *testing.T) {
	rng := rand.New(rand.NewSource(15))
	in := honestMLPStep(rng, 4, 3, 3, 1.0)
	fake := in
	fake.WAfter = append([]int64{}, in.WAfter...)
	fake.WAfter[5] += 4 * fixed.One
	if _, _, err := AssignMLP(fake, 4, 3, 3); err == nil || !strings.Contains(err.Error(), "above the bound") {
		t.Fatalf("fabricated step not refused natively: %v", err)
	}
	if _, _, err := AssignMLP(in, 4, 2, 3); err == nil {
		t.Fatal("weights of another architecture were accepted")
	}
}

func TestMLPGroth16ProveAndVerify(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	const d, h, b = 3, 2, 2
	spec, err := ParseSpec(MLPName(d, h, b))
	if err != nil {
		t.Fatal(err)
	}
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, spec.New())
	if err != nil {
		t.Fatal(err)
	}
	pk, vk, err := groth16.Setup(ccs)
	if err != nil {
		t.Fatal(err)
	}
	a, pub, err := spec.Assign(honestMLPStep(rng, d, h, 2, 1.0))
	if err != nil {
		t.Fatal(err)
	}
	full, _ := frontend.NewWitness(a, ecc.BN254.ScalarField())
	proof, err := groth16.Prove(ccs, pk, full)
	if err != nil {
		t.Fatal(err)
	}
	public := spec.New()
	public.SetPublic(pub)
	pw, _ := frontend.NewWitness(public, ecc.BN254.ScalarField(), frontend.PublicOnly())
	if err := groth16.Verify(proof, vk, pw); err != nil {
		t.Fatalf("honest proof rejected: %v", err)
	}
}

func TestSpecNames(t *testing.T) {
	for name, weights := range map[string]int{"logreg-d30-b32": 31, "mlp-d30-h16-b32": 513} {
		s, err := ParseSpec(name)
		if err != nil || s.Name() != name || s.Weights() != weights {
			t.Fatalf("%s: %+v %v", name, s, err)
		}
	}
	for _, bad := range []string{"mlp-d30-h0-b32", "mlp-d30-h33-b32", "logreg-d65-b32", "mlp-d30-b32", "cnn-d3-b2"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Fatalf("%s accepted", bad)
		}
	}
}
