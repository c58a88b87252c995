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

var logregName = regexp.MustCompile(`^logreg-d(\d+)-b(\d+)$`)

// Sizes parses a circuit name such as "logreg-d30-b32" (D <= 64, B <= 32).
func Sizes(name string) (d, b int, err error) {
	m := logregName.FindStringSubmatch(name)
	if m == nil {
		return 0, 0, fmt.Errorf("unknown circuit %q (expected logreg-d<D>-b<B>)", name)
	}
	d, _ = strconv.Atoi(m[1])
	b, _ = strconv.Atoi(m[2])
	if d < 1 || d > 64 || b < 1 || b > 32 {
		return 0, 0, fmt.Errorf("circuit %q: D must be 1..64 and B 1..32", name)
	}
	return d, b, nil
}

// Compile builds the constraint system of a named circuit.
func Compile(name string) (constraint.ConstraintSystem, error) {
	d, b, err := Sizes(name)
	if err != nil {
		return nil, err
	}
	return frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, NewLogRegStep(d, b))
}
