package circuit

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/constraint"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"
)

// StepCircuit is a training-step circuit: every one has the same nine public inputs.
type StepCircuit interface {
	frontend.Circuit
	SetPublic(Public)
}

// Spec names a circuit and its sizes: "logreg-d<D>-b<B>" (D <= 64) or "mlp-d<D>-h<H>-b<B>"
// (D <= 64, H <= 32), batch capacity B <= 32. Keys are per name.
type Spec struct {
	Kind    string // "logreg" | "mlp"
	D, H, B int    // H = 0 for logreg
}

var (
	logregName = regexp.MustCompile(`^logreg-d(\d+)-b(\d+)$`)
	mlpName    = regexp.MustCompile(`^mlp-d(\d+)-h(\d+)-b(\d+)$`)
)

// ParseSpec parses a circuit name.
func ParseSpec(name string) (Spec, error) {
	atoi := func(s string) int { v, _ := strconv.Atoi(s); return v }
	var s Spec
	if m := logregName.FindStringSubmatch(name); m != nil {
		s = Spec{Kind: "logreg", D: atoi(m[1]), B: atoi(m[2])}
	} else if m := mlpName.FindStringSubmatch(name); m != nil {
		s = Spec{Kind: "mlp", D: atoi(m[1]), H: atoi(m[2]), B: atoi(m[3])}
		if s.H < 1 || s.H > 32 {
			return Spec{}, fmt.Errorf("circuit %q: H must be 1..32", name)
		}
	} else {
		return Spec{}, fmt.Errorf("unknown circuit %q (expected logreg-d<D>-b<B> or mlp-d<D>-h<H>-b<B>)", name)
	}
	if s.D < 1 || s.D > 64 || s.B < 1 || s.B > 32 {
		return Spec{}, fmt.Errorf("circuit %q: D must be 1..64 and B 1..32", name)
	}
	return s, nil
}

// Name is the circuit's name.
func (s Spec) Name() string {
	if s.Kind == "mlp" {
		return MLPName(s.D, s.H, s.B)
	}
	return LogRegName(s.D, s.B)
}

// Weights is the number of model parameters the circuit's commitments cover.
func (s Spec) Weights() int {
	if s.Kind == "mlp" {
		return MLPWeights(s.D, s.H)
	}
	return s.D + 1
}

// New allocates an empty circuit (for compiling, or for a public-only witness).
func (s Spec) New() StepCircuit {
	if s.Kind == "mlp" {
		return NewMLPStep(s.D, s.H, s.B)
	}
	return NewLogRegStep(s.D, s.B)
}

// Assign checks a step and returns the circuit's full assignment and public inputs.
func (s Spec) Assign(in StepInput) (StepCircuit, Public, error) {
	if s.Kind == "mlp" {
		return AssignMLP(in, s.D, s.H, s.B)
	}
	return Assign(in, s.D, s.B)
}

// Compile builds the constraint system of a named circuit (a training step or a binding).
func Compile(name string) (constraint.ConstraintSystem, error) {
	if weights, ok, err := ParseBind(name); ok {
		if err != nil {
			return nil, err
		}
		return frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, NewBind(weights))
	}
	s, err := ParseSpec(name)
	if err != nil {
		return nil, err
	}
	return frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, s.New())
}
