package circuit

import (
	"math/big"
	"math/rand"
	"strings"
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/test"

	"fedledger.local/zk/fixed"
)

// honestBind is what an agent proves: weights moved by a small update, its sample count, a
// random point and blinding.
func honestBind(rng *rand.Rand, weights int) BindInput {
	in := BindInput{Samples: 157, Point: "98765432109876543210987654321", Rho0: "123456789123456789",
		Rho1: "987654321987654321", Salt: "4242424242", NormBound: "1000000000"}
	for j := 0; j < weights; j++ {
		w0 := int64(rng.Intn(8000) - 4000)
		in.WStart = append(in.WStart, w0)
		in.WFinal = append(in.WFinal, w0+int64(rng.Intn(401)-200))
	}
	return in
}

func TestBindingHoldsForAnHonestInput(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, weights := range []int{1, 6, 7, 31, 513} {
		c, _, err := AssignBind(honestBind(rng, weights), weights)
		if err != nil {
			t.Fatal(err)
		}
		if err := test.IsSolved(NewBind(weights), c, ecc.BN254.ScalarField()); err != nil {
			t.Fatalf("%d weights: %v", weights, err)
		}
	}
}

// TestEveryBindingRuleRefusesItsViolation changes one thing of an honest assignment at a time.
func TestEveryBindingRuleRefusesItsViolation(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	const weights = 31
	in := honestBind(rng, weights)
	base, pub, err := AssignBind(in, weights)
	if err != nil {
		t.Fatal(err)
	}
	other := honestBind(rng, weights)
	cases := map[string]func(c *Bind){
		"value of another update":        func(c *Bind) { c.Value = new(big.Int).Add(pub.Value, big.NewInt(1)) },
		"final weights not committed":    func(c *Bind) { c.W1[3] = in.WFinal[3] + 1 },
		"start weights not the round's":  func(c *Bind) { c.WStart = fixed.WeightsCommitment(other.WStart) },
		"blinding not the committed one": func(c *Bind) { c.Rho0 = big.NewInt(5) },
		"another sample count":           func(c *Bind) { c.Samples = big.NewInt(in.Samples + 1) },
		"zero samples":                   func(c *Bind) { c.Samples = big.NewInt(0) },
		"norm beyond the bound":          func(c *Bind) { c.NormBound = big.NewInt(10) },
		"another point":                  func(c *Bind) { c.Point = big.NewInt(7) },
	}
	for name, change := range cases {
		c := *base
		c.W0 = append([]frontend.Variable(nil), base.W0...)
		c.W1 = append([]frontend.Variable(nil), base.W1...)
		change(&c)
		if err := test.IsSolved(NewBind(weights), &c, ecc.BN254.ScalarField()); err == nil {
			t.Errorf("%s: the circuit accepted it", name)
		}
	}
}

func TestNativeChecksNameTheProblem(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	in := honestBind(rng, 31)
	in.NormBound = "10"
	if _, _, err := AssignBind(in, 31); err == nil || !strings.Contains(err.Error(), "exceeds the bound") {
		t.Fatalf("over-norm update: %v", err)
	}
	in = honestBind(rng, 31)
	in.Samples = 1 << 23
	in.WFinal[0] = in.WStart[0] + 5000
	in.NormBound = "4611686018427387903"
	if _, _, err := AssignBind(in, 31); err == nil || !strings.Contains(err.Error(), "masking's bound") {
		t.Fatalf("coordinate beyond the masking bound: %v", err)
	}
	in = honestBind(rng, 31)
	in.Point = ecc.BN254.ScalarField().String()
	if _, _, err := AssignBind(in, 31); err == nil || !strings.Contains(err.Error(), "field order") {
		t.Fatalf("point not reduced: %v", err)
	}
	if _, _, err := AssignBind(in, 30); err == nil {
		t.Fatal("a wrong weight count was accepted")
	}
}

// TestEncodingMatchesTheMaskingLayout pins the element layout: 6 coordinates of 42 bits each,
// negative coordinates borrowing from the element (the agent's field.py computes the same).
func TestEncodingMatchesTheMaskingLayout(t *testing.T) {
	w0 := []int64{0, 0, 0, 0, 0, 0, 0}
	w1 := []int64{1, -1, 2, 0, 0, 3, -4}
	elems, err := BindEncode(w0, w1, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := ecc.BN254.ScalarField()
	want0 := new(big.Int)
	for s, d := range []int64{1, -1, 2, 0, 0, 3} {
		term := new(big.Int).Lsh(big.NewInt(32*d), uint(42*s))
		want0.Add(want0, term)
	}
	want0.Mod(want0, r)
	want1 := new(big.Int).Mod(big.NewInt(-128), r)
	if elems[0].Cmp(want0) != 0 || elems[1].Cmp(want1) != 0 || len(elems) != 2 {
		t.Fatalf("elements %v, want [%v %v]", elems, want0, want1)
	}
}

func TestBindingCircuitsCompile(t *testing.T) {
	for _, weights := range []int{31, 513} {
		ccs, err := Compile(BindName(weights))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d constraints", BindName(weights), ccs.GetNbConstraints())
	}
	if _, err := Compile("bind-w0"); err == nil {
		t.Fatal("bind-w0 compiled")
	}
}
